"""Airflow DAG `<project>_feedback`: late labels fed to `python -m pipeline feedback --json` on a
schedule; a live bound crossed by a served model alerts and triggers the project's pipeline DAG
(reason `live degradation: <metric>`); then `promote` moves `stable` to a canary that proved itself.

Tasks: `feed_labels` runs feedback on each labels file not fed before (PIPELINE_FEEDBACK_LABELS:
a CSV file, or a folder whose *.csv files are fed in name order; a file is known by its content's
SHA-256, kept in the DAG's state dir, so the same labels are never measured twice), skipped when
there is none. Its decision (feedback_decision) feeds the retraining and alert branches of
services/airflow_loop.py. `promote_canary` runs after it: skipped without a canary; promoted, or
refused for lack of evidence (fewer labelled rows both versions scored than
`promotion.min_labelled_rows`: the JSON answer's `rows` < `required_rows`), is a success; a canary
refused on enough rows because it is worse fails the task, so the team is alerted that the
challenger lost on live labels. Settings come from PIPELINE_FEEDBACK_* variables of the scheduler,
read once here; the project from PIPELINE_FEEDBACK_PROJECT, else PIPELINE_PROJECT, else the default.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipeline.config import STATE_DIR
from pipeline.services.airflow_alerts import DEFAULT_CONNECTION, notify_failure
from pipeline.services.airflow_loop import (
    Answer,
    LoopDecision,
    LoopTaskFailed,
    add_loop_branches,
    loop_settings,
    run_command,
)
from pipeline.serving.canary import NoCanary, airflow_config_dir, canary_labels
from pipeline.vocabulary import REASON_DEGRADATION

ENV_PREFIX = "PIPELINE_FEEDBACK_"
PATH_SETTINGS = ("labels", "metadata_path", "state_dir", "serving_config_root")
FEED_TASK = "feed_labels"
PROMOTE_TASK = "promote_canary"
FED_FILE = "fed_labels.json"
CANARY_ROLE = "canary"


@dataclass(frozen=True)
class FeedbackSettings:
    """Which project's labels are fed from where, where the DAG remembers what it fed, how often."""

    project: str
    labels: Path | None = None
    metadata_path: Path | None = None
    state_dir: Path | None = None
    schedule: str = "@daily"
    python: str = sys.executable
    alert_connection: str = DEFAULT_CONNECTION
    pipeline_dag: str = ""
    model_name: str = ""
    serving_config_root: Path | None = None

    @property
    def dag_id(self) -> str:
        return f"{self.project}_feedback"

    @property
    def labels_path(self) -> Path:
        """The labels file or folder (default state/labels/<project>/)."""
        return self.labels or STATE_DIR / "labels" / self.project

    @property
    def fed_record(self) -> Path:
        """The JSON file of the labels files fed so far, by content digest."""
        return (self.state_dir or STATE_DIR / "feedback_dag" / self.project) / FED_FILE

    @property
    def serving_config_dir(self) -> Path:
        """The models.config folder the loop's DAGs share."""
        return airflow_config_dir(self.serving_config_root, self.model_name or self.project)


def settings_from_env(environ: Mapping[str, str]) -> FeedbackSettings:
    """PIPELINE_FEEDBACK_<FIELD> overrides; the loop's shared names as the monitoring DAG reads them."""
    values = loop_settings(FeedbackSettings.__dataclass_fields__, ENV_PREFIX, PATH_SETTINGS, environ)
    return FeedbackSettings(**values)


def store_flags(settings: FeedbackSettings) -> list[str]:
    """The project and, when set, the SQLite store (else the PIPELINE_METADATA_* the task inherits)."""
    flags = ["--project", settings.project]
    return flags + (["--metadata", str(settings.metadata_path)] if settings.metadata_path else [])


def digest(path: Path) -> str:
    """A labels file's identity: the SHA-256 of its content."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fed_digests(record: Path) -> dict[str, str]:
    """Digest -> file name of every labels file fed so far."""
    return json.loads(record.read_text()) if record.is_file() else {}


def unfed_files(labels: Path, fed: Mapping[str, str]) -> list[Path]:
    """The labels files to feed: the file, or the folder's CSV files in name order, less those fed."""
    files = [labels] if labels.is_file() else sorted(labels.glob("*.csv")) if labels.is_dir() else []
    return [path for path in files if digest(path) not in fed]


def remember(record: Path, path: Path) -> None:
    """Add a fed file to the record (written whole, then renamed)."""
    fed = {**fed_digests(record), digest(path): str(path)}
    record.parent.mkdir(parents=True, exist_ok=True)
    partial = record.with_name(f".{record.name}.partial")
    partial.write_text(json.dumps(fed, indent=1, sort_keys=True))
    partial.replace(record)


def feedback_decision(answer: Answer) -> LoopDecision:
    """Exit 0: live metrics within bounds; exit 1: a served model crossed a live bound (alert,
    and retraining with reason `live degradation: <bounds crossed>`); else LoopTaskFailed."""
    report = answer.json()
    if answer.code not in (0, 1) or report is None:
        raise LoopTaskFailed(f"feedback could not run (exit {answer.code}): {answer.error_line()}")
    served = [m for m in report.get("models") or () if list(m.get("roles") or ()) != [CANARY_ROLE]]
    crossed = [f"{bound} (version {m['version']})" for m in served for bound in m.get("breaches") or ()]
    summary = (f"batch {report.get('step')}: {report.get('labels')} labels, "
               f"{report.get('unscored')} never scored")
    if not crossed:
        return LoopDecision(f"{summary}; live metrics within bounds")
    reason = f"{REASON_DEGRADATION}: {'; '.join(crossed)}"
    alert = f"live metrics crossed their bounds in feedback {summary}: {'; '.join(crossed)}"
    return LoopDecision(f"{summary}; {reason}", alert=alert, trigger=reason)


def merged(decisions: list[LoopDecision]) -> LoopDecision:
    """Several labels files fed in one DAG run: every summary and alert, the first retraining reason."""
    alerts = [d.alert for d in decisions if d.alert]
    return LoopDecision("; ".join(d.summary for d in decisions),
                        alert="\n".join(alerts) or None,
                        trigger=next((d.trigger for d in decisions if d.trigger), None))


def feed_labels(settings: FeedbackSettings) -> dict[str, str | None]:
    """The first task's callable: feed each new labels file, remember it, decide; skipped when
    no new labels arrived."""
    from airflow.exceptions import AirflowSkipException

    files = unfed_files(settings.labels_path, fed_digests(settings.fed_record))
    if not files:
        raise AirflowSkipException(f"no labels file in {settings.labels_path} that was not fed")
    decisions = []
    for path in files:
        answer = run_command(settings.python, ["feedback", *store_flags(settings), "--labels",
                                               str(path), "--json"])
        decisions.append(feedback_decision(answer))
        remember(settings.fed_record, path)
    decision = merged(decisions)
    print(f"decision    {decision.summary}")
    return asdict(decision)


def promote_decision(answer: Answer) -> LoopDecision:
    """Promoted, or refused for lack of evidence (rows < required_rows): a success; refused on
    enough rows (the canary is worse): LoopTaskFailed, the alert; no JSON answer: could not run."""
    report = answer.json()
    if report is None or answer.code not in (0, 1):
        raise LoopTaskFailed(f"promote could not run (exit {answer.code}): {answer.error_line()}")
    if report.get("promoted"):
        return LoopDecision(f"promoted: {report.get('reason')}")
    if report.get("rows", 0) < report.get("required_rows", 0):
        return LoopDecision(f"waiting for evidence: {report.get('reason')}")
    raise LoopTaskFailed(f"canary refused on enough live labels: {report.get('reason')}")


def promote_canary(settings: FeedbackSettings) -> str:
    """The promotion task's callable: skipped when no canary waits, else promote and decide."""
    from airflow.exceptions import AirflowSkipException

    try:
        canary_labels(settings.serving_config_dir, settings.model_name or settings.project)
    except NoCanary as nothing:
        raise AirflowSkipException(str(nothing)) from nothing
    answer = run_command(settings.python, [
        "promote", *store_flags(settings), "--config-dir", str(settings.serving_config_dir),
        "--json"])
    decision = promote_decision(answer)
    print(f"decision    {decision.summary}")
    return decision.summary


def create_feedback_dag(settings: FeedbackSettings) -> Any:
    """feed_labels, its retraining and alert branches, and promote_canary after it."""
    from airflow import DAG
    from airflow.operators.python import PythonOperator

    on_failure = functools.partial(notify_failure, settings.alert_connection)
    with DAG(
        dag_id=settings.dag_id, schedule=settings.schedule, start_date=dt.datetime(2024, 1, 1),
        catchup=False, max_active_runs=1, tags=["feedback", settings.project],
        description=f"Live metrics of project {settings.project} from late labels; promotion",
        doc_md=(f"Feeds each new labels file of {settings.labels_path} to `python -m pipeline "
                "feedback --json`. A served model crossing a live bound fails the `alert` task "
                f"(sent through the Airflow connection `{settings.alert_connection}`) and triggers "
                f"the pipeline DAG `{settings.pipeline_dag}` with the reason `live degradation: "
                "...`. Then `promote` moves stable to the canary when its live metrics earned it "
                "(a refusal for lack of labelled rows is not a failure; a worse canary is)."),
        default_args={"owner": "ml-platform"},
    ) as dag:
        first = PythonOperator(task_id=FEED_TASK, on_failure_callback=on_failure,
                               python_callable=functools.partial(feed_labels, settings))
        add_loop_branches(dag, first, settings.pipeline_dag, settings.alert_connection)
        first >> PythonOperator(task_id=PROMOTE_TASK, on_failure_callback=on_failure, retries=0,
                                python_callable=functools.partial(promote_canary, settings))
    return dag
