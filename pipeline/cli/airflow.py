"""`airflow`: Airflow as in production, on this machine, running the project's DAGs."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pipeline.services.airflow_server import (
    DEFAULT_HOME,
    DEFAULT_HOST,
    DEFAULT_PORT,
    PASSWORD_FILE,
    serve,
    server_settings,
)


def _airflow(args: argparse.Namespace) -> int:
    """Handler of `python -m pipeline airflow`."""
    return serve(server_settings(args.home, args.host, args.port, os.environ, args.preload),
                 os.environ)


def add_commands(commands) -> None:
    """`airflow`: scheduler (LocalExecutor) and web UI on PostgreSQL, on this project's DAGs."""
    parser = commands.add_parser(
        "airflow", help="start Airflow (LocalExecutor, PostgreSQL) running the pipeline's DAGs",
        description="Starts a PostgreSQL cluster under HOME/state (unless "
                    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN names a server), Airflow's scheduler and "
                    f"web UI. The admin password is generated into HOME/{PASSWORD_FILE}.")
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME,
                        help=f"AIRFLOW_HOME (default {DEFAULT_HOME})")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address the web UI binds to (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="web UI port")
    parser.add_argument("--no-preload", dest="preload", action="store_false",
                        help="do not import TensorFlow and TFX in the scheduler before it forks "
                             "tasks (each task then imports them itself: slower, less memory)")
    parser.set_defaults(handler=_airflow)
