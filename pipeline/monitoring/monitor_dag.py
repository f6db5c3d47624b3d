"""Airflow DAG: run `python -m pipeline monitor` on the latest request log, on a schedule.

The task fails (and Airflow alerts) when the command exits non-zero: a skew, drift or schema
threshold was crossed, or the data could not be read. Settings come from PIPELINE_MONITOR_*
environment variables of the scheduler, read once here at the boundary.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow import DAG
from airflow.operators.bash import BashOperator

from pipeline.config import PROJECT_ROOT, STATE_DIR

ENV_PREFIX = "PIPELINE_MONITOR_"


PATH_SETTINGS = ("requests_file", "metadata_path", "state_dir")


@dataclass(frozen=True)
class MonitorSettings:
    """What the scheduled monitor checks, where it keeps state, and how often it runs."""

    requests_file: Path = STATE_DIR / "requests" / "latest.csv"
    # None: the command finds the store as every reader does, from the PIPELINE_METADATA_* (and
    # PIPELINE_PIPELINE_NAME) variables the task inherits, so a MySQL/PostgreSQL store works too.
    metadata_path: Path | None = None
    state_dir: Path = STATE_DIR / "monitoring"
    schedule: str = "@daily"
    python: str = sys.executable


def settings_from_env(environ: Mapping[str, str]) -> MonitorSettings:
    """PIPELINE_MONITOR_<FIELD> overrides, e.g. PIPELINE_MONITOR_REQUESTS_FILE."""
    values: dict[str, Any] = {}  # Path for PATH_SETTINGS, else the text (a str field)
    for name in MonitorSettings.__dataclass_fields__:
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = Path(raw) if name in PATH_SETTINGS else raw
    return MonitorSettings(**values)


def monitor_command(settings: MonitorSettings) -> str:
    """The shell command the task runs, from the project root."""
    parts = [settings.python, "-m", "pipeline", "monitor", str(settings.requests_file),
             "--state-dir", str(settings.state_dir)]
    if settings.metadata_path is not None:
        parts += ["--metadata", str(settings.metadata_path)]
    return f"cd {shlex.quote(str(PROJECT_ROOT))} && " + " ".join(shlex.quote(p) for p in parts)


def create_monitor_dag(settings: MonitorSettings) -> DAG:
    """One BashOperator task calling the monitor command."""
    with DAG(
        dag_id="taxi_monitoring",
        schedule=settings.schedule,
        start_date=dt.datetime(2024, 1, 1),
        catchup=False,
        tags=["monitoring"],
    ) as dag:
        BashOperator(task_id="monitor_requests", bash_command=monitor_command(settings))
    return dag


dag = create_monitor_dag(settings_from_env(os.environ))
