"""Airflow DAG: run `python -m pipeline monitor` on the latest request log, on a schedule.

The task fails (and Airflow alerts) when the command exits non-zero: a skew, drift or schema
threshold was crossed, or the data could not be read. Settings come from PIPELINE_MONITOR_*
environment variables of the scheduler, read once here at the boundary; the project monitored
(dag_id `<project>_monitoring`) from PIPELINE_MONITOR_PROJECT, else PIPELINE_PROJECT, else
pyproject's default-project.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow import DAG
from airflow.operators.bash import BashOperator

from pipeline.config import PROJECT_ROOT, STATE_DIR, default_project
from pipeline.services.airflow_alerts import DEFAULT_CONNECTION, notify_failure

ENV_PREFIX = "PIPELINE_MONITOR_"


PATH_SETTINGS = ("requests_file", "metadata_path", "state_dir")


@dataclass(frozen=True)
class MonitorSettings:
    """Which project the scheduled monitor checks, on which file, where it keeps state, and how
    often it runs. Unset paths default per project: state/requests/<project>/latest.csv and
    state/monitoring/<project>."""

    project: str
    requests_file: Path | None = None
    # None: the command finds the store as every reader does, from the project and the
    # PIPELINE_METADATA_* (and PIPELINE_PIPELINE_NAME) variables the task inherits, so a
    # MySQL/PostgreSQL store works too.
    metadata_path: Path | None = None
    state_dir: Path | None = None
    schedule: str = "@daily"
    python: str = sys.executable
    # A crossed threshold fails the task; its on_failure_callback alerts through this connection
    # (the same variable and default as the pipeline DAGs: PIPELINE_AIRFLOW_ALERT_CONNECTION).
    alert_connection: str = DEFAULT_CONNECTION

    @property
    def dag_id(self) -> str:
        return f"{self.project}_monitoring"

    @property
    def requests(self) -> Path:
        """The CSV of production requests the task checks."""
        return self.requests_file or STATE_DIR / "requests" / self.project / "latest.csv"


def settings_from_env(environ: Mapping[str, str]) -> MonitorSettings:
    """PIPELINE_MONITOR_<FIELD> overrides, e.g. PIPELINE_MONITOR_REQUESTS_FILE; the project from
    PIPELINE_MONITOR_PROJECT, else PIPELINE_PROJECT, else the default project."""
    values: dict[str, Any] = {}  # Path for PATH_SETTINGS, else the text (a str field)
    for name in MonitorSettings.__dataclass_fields__:
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = Path(raw) if name in PATH_SETTINGS else raw
    values["project"] = (values.get("project") or environ.get("PIPELINE_PROJECT")
                         or default_project(PROJECT_ROOT))
    values.setdefault("alert_connection",
                      environ.get("PIPELINE_AIRFLOW_ALERT_CONNECTION", DEFAULT_CONNECTION))
    return MonitorSettings(**values)


def monitor_command(settings: MonitorSettings) -> str:
    """The shell command the task runs, from the project root."""
    parts = [settings.python, "-m", "pipeline", "monitor", str(settings.requests),
             "--project", settings.project]
    if settings.state_dir is not None:
        parts += ["--state-dir", str(settings.state_dir)]
    if settings.metadata_path is not None:
        parts += ["--metadata", str(settings.metadata_path)]
    return f"cd {shlex.quote(str(PROJECT_ROOT))} && " + " ".join(shlex.quote(p) for p in parts)


def create_monitor_dag(settings: MonitorSettings) -> DAG:
    """One BashOperator task calling the monitor command."""
    with DAG(
        dag_id=settings.dag_id,
        schedule=settings.schedule,
        start_date=dt.datetime(2024, 1, 1),
        catchup=False,
        tags=["monitoring", settings.project],
        description=f"Skew and drift of project {settings.project}'s served requests",
        doc_md=(f"Runs `python -m pipeline monitor` on {settings.requests}. The task fails when a "
                "skew, drift or schema threshold is crossed, and the failure is sent through the "
                f"Airflow connection `{settings.alert_connection}` (docs/airflow.md)."),
        default_args={"owner": "ml-platform"},
    ) as dag:
        BashOperator(
            task_id="monitor_requests", bash_command=monitor_command(settings),
            on_failure_callback=functools.partial(notify_failure, settings.alert_connection),
        )
    return dag


dag = create_monitor_dag(settings_from_env(os.environ))
