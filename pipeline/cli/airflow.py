"""`airflow`: a local Airflow scheduler and web UI running the project's DAG."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pipeline.run.airflow_server import DEFAULT_HOME, DEFAULT_PORT, serve


def _airflow(args: argparse.Namespace) -> int:
    """Handler of `python -m pipeline airflow`."""
    return serve(args.home, args.port, args.admin_password, os.environ)


def add_commands(commands) -> None:
    """`airflow`: the local scheduler and web UI on this project's DAG folder."""
    parser = commands.add_parser("airflow", help="start a local Airflow running the pipeline's DAG")
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME,
                        help=f"AIRFLOW_HOME (default {DEFAULT_HOME})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="web UI port")
    parser.add_argument("--admin-password", default="admin",
                        help="password of the 'admin' login (created on first start)")
    parser.set_defaults(handler=_airflow)
