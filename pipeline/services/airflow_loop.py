"""The continuous-training loop's Airflow wiring, shared by the monitoring and feedback DAGs.

Each of those DAGs runs one `python -m pipeline` command with `--json` in its first task and
turns its exit code and answer into a `LoopDecision` (pure functions next to each DAG, unit-tested
on the commands' real answers), returned as the task's XCom. Two branches follow it:

- `retraining_decision` -> `trigger_retraining`: when the decision names a reason, Airflow's own
  TriggerDagRunOperator starts the project's pipeline DAG with conf `{"reason": ...}` (its first
  task records that reason on the run in ML Metadata); otherwise both are skipped;
- `alert`: fails, naming the finding, when the decision carries an alert, so the failure alert
  (notify_failure, through the pipeline_alerts connection) and the failed DAG run say it, as
  before the loop existed.

A command that cannot run (exit 2, or an answer that is not JSON) fails the first task itself.
"""

from __future__ import annotations

import functools
import json
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pipeline.config import PROJECT_ROOT, default_project
from pipeline.errors import WorkFailed
from pipeline.services.airflow_alerts import DEFAULT_CONNECTION, notify_failure
from pipeline.serving.canary import AIRFLOW_CONFIG_ROOT_VARIABLE
from pipeline.vocabulary import REASON_CONF_KEY

DECISION_TASK = "retraining_decision"
TRIGGER_TASK = "trigger_retraining"
ALERT_TASK = "alert"


class LoopTaskFailed(WorkFailed):
    """A loop task's command could not run, or its finding is an alert: the task fails with it."""


@dataclass(frozen=True)
class Answer:
    """A command's exit code, its stdout and stderr."""

    code: int
    out: str
    err: str

    def json(self) -> dict[str, Any] | None:
        """The --json answer, or None when stdout holds no JSON object."""
        try:
            value = json.loads(self.out)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def error_line(self) -> str:
        """The command's `error:` line (or its last stderr line), for a failure message."""
        lines = [line for line in self.err.splitlines() if line.strip()]
        return next((line for line in lines if line.startswith("error:")),
                    lines[-1] if lines else f"exit code {self.code}, no message")


@dataclass(frozen=True)
class LoopDecision:
    """What the DAG does after its command: a one-line `summary` for the task log, the `alert`
    text (None: no alert) and the `trigger` reason for the pipeline DAG (None: no retraining)."""

    summary: str
    alert: str | None = None
    trigger: str | None = None


def loop_defaults(values: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The loop's shared names where a DAG's own variables leave them unset: the pipeline DAG
    (PIPELINE_PIPELINE_NAME, else the project), the model (PIPELINE_MODEL_NAME, else the project)
    and the models.config root (PIPELINE_AIRFLOW_SERVING_CONFIG_ROOT)."""
    project = values["project"]
    root = values.get("serving_config_root") or environ.get(AIRFLOW_CONFIG_ROOT_VARIABLE)
    return {"pipeline_dag": values.get("pipeline_dag") or environ.get("PIPELINE_PIPELINE_NAME")
            or project,
            "model_name": values.get("model_name") or environ.get("PIPELINE_MODEL_NAME") or project,
            "serving_config_root": PROJECT_ROOT / root if root else None}


def loop_settings(fields: Iterable[str], prefix: str, path_fields: Sequence[str],
                  environ: Mapping[str, str]) -> dict[str, Any]:
    """A loop DAG's settings from <prefix><FIELD> variables: paths relative to the project root
    (a DAG file is parsed from any working directory), the project from PIPELINE_PROJECT else the
    default one, the alert connection and the loop's shared names (loop_defaults)."""
    values: dict[str, Any] = {}
    for name in fields:
        raw = environ.get(prefix + name.upper())
        if raw is not None:
            values[name] = PROJECT_ROOT / raw if name in path_fields else raw
    values["project"] = (values.get("project") or environ.get("PIPELINE_PROJECT")
                         or default_project(PROJECT_ROOT))
    values.setdefault("alert_connection",
                      environ.get("PIPELINE_AIRFLOW_ALERT_CONNECTION", DEFAULT_CONNECTION))
    values.update(loop_defaults(values, environ))
    return values


def run_command(python: str, argv: Sequence[str]) -> Answer:
    """`python -m pipeline ARGV` from the project root; the command and its output go to the
    task log."""
    print(f"$ python -m pipeline {shlex.join(argv)}", flush=True)
    done = subprocess.run([python, "-m", "pipeline", *argv], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, check=False)
    print(done.stdout, flush=True)
    print(done.stderr, file=sys.stderr, flush=True)
    return Answer(done.returncode, done.stdout, done.stderr)


def decided(decide: Callable[[], LoopDecision]) -> dict[str, str | None]:
    """The first task's callable: the decision, printed, as the task's XCom."""
    decision = decide()
    print(f"decision    {decision.summary}")
    return asdict(decision)


def _pulled(ti: Any, task_id: str) -> Mapping[str, Any]:
    """The decision the first task returned."""
    return ti.xcom_pull(task_ids=task_id) or {}


def retraining_reason(task_id: str, ti: Any) -> str | bool:
    """ShortCircuit callable: the reason to retrain (pushed as XCom for the trigger), or False."""
    return _pulled(ti, task_id).get("trigger") or False


def raise_alert(task_id: str, ti: Any) -> None:
    """Fail (and so alert) with the decision's alert text; succeed when there is none."""
    alert = _pulled(ti, task_id).get("alert")
    if alert:
        raise LoopTaskFailed(alert)


def add_loop_branches(dag: Any, first: Any, pipeline_dag: str, alert_connection: str) -> None:
    """The retraining branch and the alert branch after the DAG's first task (module docstring)."""
    from airflow.operators.python import PythonOperator, ShortCircuitOperator
    from airflow.operators.trigger_dagrun import TriggerDagRunOperator

    on_failure = functools.partial(notify_failure, alert_connection)
    decision = ShortCircuitOperator(
        task_id=DECISION_TASK, dag=dag, on_failure_callback=on_failure,
        python_callable=functools.partial(retraining_reason, first.task_id))
    trigger = TriggerDagRunOperator(
        task_id=TRIGGER_TASK, dag=dag, trigger_dag_id=pipeline_dag, on_failure_callback=on_failure,
        conf={REASON_CONF_KEY: "{{ ti.xcom_pull(task_ids='" + DECISION_TASK + "') }}"})
    alert = PythonOperator(task_id=ALERT_TASK, dag=dag, retries=0, on_failure_callback=on_failure,
                           python_callable=functools.partial(raise_alert, first.task_id))
    first >> decision >> trigger
    first >> alert
