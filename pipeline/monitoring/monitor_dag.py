"""Airflow DAG: run `python -m pipeline monitor --json` on the latest request log, on a schedule;
a value-drift alert triggers the project's pipeline DAG, schema skew only alerts.

The first task, `monitor_requests`, runs the command and decides (monitor_decision): exit 0 is
quiet; exit 1 is an alert (the `alert` task fails, so Airflow's failure alert and the DAG run's
state say it); when the crossed thresholds are skew or drift of feature values and the window
has no schema problem, `trigger_retraining` starts the pipeline DAG with conf reason
`drift alert: <features>`. Broken data (a schema problem: a missing column, a type change) alerts
and never triggers training. Exit 2 (cannot run) fails the first task. Settings come from
PIPELINE_MONITOR_* environment variables of the scheduler, read once here at the boundary; the
project monitored (dag_id `<project>_monitoring`) from PIPELINE_MONITOR_PROJECT, else
PIPELINE_PROJECT, else pyproject's default-project.
"""

from __future__ import annotations

import datetime as dt
import functools
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import STATE_DIR
from pipeline.services.airflow_alerts import DEFAULT_CONNECTION, notify_failure
from pipeline.services.airflow_loop import (
    Answer,
    LoopDecision,
    LoopTaskFailed,
    add_loop_branches,
    decided,
    loop_settings,
    run_command,
)
from pipeline.serving.canary import airflow_config_dir
from pipeline.vocabulary import REASON_DRIFT

ENV_PREFIX = "PIPELINE_MONITOR_"


PATH_SETTINGS = ("requests_file", "metadata_path", "state_dir", "serving_config_root")
TASK_ID = "monitor_requests"
# The kinds of problem `monitor --json` lists: schema skew is broken data, the others value drift.
SCHEMA_PROBLEMS = "schema"
VALUE_PROBLEMS = ("skew", "drift")


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
    # The DAG a value-drift alert triggers (the project's pipeline DAG), and the model whose
    # `stable` label (in the models.config the loop's DAGs share) is the monitor's baseline.
    pipeline_dag: str = ""
    model_name: str = ""
    serving_config_root: Path | None = None

    @property
    def dag_id(self) -> str:
        return f"{self.project}_monitoring"

    @property
    def serving_config_dir(self) -> Path:
        """The models.config folder the loop's DAGs share (serving/canary.airflow_config_dir)."""
        return airflow_config_dir(self.serving_config_root, self.model_name or self.project)

    @property
    def requests(self) -> Path:
        """The CSV of production requests the task checks."""
        return self.requests_file or STATE_DIR / "requests" / self.project / "latest.csv"


def settings_from_env(environ: Mapping[str, str]) -> MonitorSettings:
    """PIPELINE_MONITOR_<FIELD> overrides, e.g. PIPELINE_MONITOR_REQUESTS_FILE; the project from
    PIPELINE_MONITOR_PROJECT, else PIPELINE_PROJECT, else the default project."""
    values = loop_settings(MonitorSettings.__dataclass_fields__, ENV_PREFIX, PATH_SETTINGS, environ)
    return MonitorSettings(**values)


def monitor_arguments(settings: MonitorSettings) -> list[str]:
    """The monitor command's arguments, with its answer as JSON."""
    parts = ["monitor", str(settings.requests), "--project", settings.project, "--json",
             "--serving-config-dir", str(settings.serving_config_dir)]
    if settings.state_dir is not None:
        parts += ["--state-dir", str(settings.state_dir)]
    if settings.metadata_path is not None:
        parts += ["--metadata", str(settings.metadata_path)]
    return parts


def monitor_decision(answer: Answer) -> LoopDecision:
    """Quiet on exit 0; on exit 1 an alert, and a retraining reason when only feature values
    drifted (schema skew is broken data: alert only); LoopTaskFailed when it could not run."""
    report = answer.json()
    if answer.code not in (0, 1) or report is None:
        raise LoopTaskFailed(f"monitor could not run (exit {answer.code}): {answer.error_line()}")
    rows = report.get("rows", 0)
    if not report.get("alert"):
        return LoopDecision(f"OK: {rows} rows, no threshold crossed")
    problems = [f"{kind.upper():7}{line}" for kind in (SCHEMA_PROBLEMS, *VALUE_PROBLEMS)
                for line in report.get(kind) or ()]
    alert = f"monitoring ALERT on {rows} rows (report {report.get('report')}):\n" + "\n".join(problems)
    if report.get(SCHEMA_PROBLEMS):
        return LoopDecision("schema skew (broken data): alert, no retraining", alert=alert)
    drifted = dict.fromkeys(check["feature"] for check in report.get("monitored") or ()
                            if check.get("crossed"))
    reason = f"{REASON_DRIFT}: {', '.join(drifted)}"
    return LoopDecision(f"value drift: alert, retraining ({reason})", alert=alert, trigger=reason)


def check_requests(settings: MonitorSettings) -> dict[str, str | None]:
    """The first task's callable: monitor, then decide."""
    return decided(lambda: monitor_decision(run_command(settings.python, monitor_arguments(settings))))


def create_monitor_dag(settings: MonitorSettings) -> Any:
    """The monitor task, then the retraining and alert branches (services/airflow_loop.py)."""
    from airflow import DAG
    from airflow.operators.python import PythonOperator

    with DAG(
        dag_id=settings.dag_id,
        schedule=settings.schedule,
        start_date=dt.datetime(2024, 1, 1),
        catchup=False,
        tags=["monitoring", settings.project],
        description=f"Skew and drift of project {settings.project}'s served requests",
        doc_md=(f"Runs `python -m pipeline monitor --json` on {settings.requests}. A crossed skew, "
                "drift or schema threshold fails the `alert` task, and the failure is sent "
                f"through the Airflow connection `{settings.alert_connection}` "
                "(docs/airflow.md). Value drift (no schema problem) also triggers the pipeline "
                f"DAG `{settings.pipeline_dag}` with the reason `drift alert: <features>`, "
                "recorded on its run in ML Metadata; broken data never triggers training."),
        default_args={"owner": "ml-platform"},
    ) as dag:
        first = PythonOperator(
            task_id=TASK_ID, python_callable=functools.partial(check_requests, settings),
            on_failure_callback=functools.partial(notify_failure, settings.alert_connection),
        )
        add_loop_branches(dag, first, settings.pipeline_dag, settings.alert_connection)
    return dag

