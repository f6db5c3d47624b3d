"""Pipeline runs into MLflow runs: one experiment per pipeline, one run per pipeline run."""

from __future__ import annotations

import getpass
import json
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.metadata import artifact_files
from pipeline.mirror.run_view import MirrorRun

if TYPE_CHECKING:
    from mlflow import MlflowClient

# The tags that tie an MLflow run to its MLMD run context: a context id is unique only within
# one store, so syncing looks runs up by the store's identity and the context id together.
KEY_TAG = "mlmd.run_context_id"


STORE_TAG = "mlmd.store"


# The MLMD state the run was mirrored in, written last: a run without it is incomplete (a sync
# stopped half way) and is replaced; a run mirrored while RUNNING is mirrored again once done.
STATE_TAG = "mirror.status"


# One pipeline run: (store identity, run context id).
RunKey = tuple[str, str]


REASON_TAG = "status_reason"


# MLflow's per-call limits of log_batch.
BATCH_LIMITS = {"metrics": 1000, "params": 100, "tags": 100}


def experiment_id(client: MlflowClient, name: str, artifact_root: str | None) -> str:
    """The pipeline's experiment, created on first sync."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    return str(client.create_experiment(name, artifact_location=artifact_root, tags={
        "mirror.source": "ML Metadata",
        # Opens the experiment on its training runs, not MLflow 3's GenAI (traces) overview.
        "mlflow.experimentKind": "custom_model_development"}))


# MLflow 3's UI picks the experiment page's view from this query parameter (else from the browser's
# last choice, by default GenAI's Traces); the experiment's mlflow.experimentKind tag is not read
# once the workflow selector is on (mlflow/server/js: the "mlflow.workflowType" local state).
RUNS_VIEW_QUERY = "workflowType=machine_learning"


def runs_page(experiment: str) -> str:
    """The UI path of an experiment's runs, in the model-training view."""
    return f"#/experiments/{experiment}/runs?{RUNS_VIEW_QUERY}"


@dataclass
class Mirrored:
    """The experiment's live MLflow runs: the complete one of each pipeline run by its key, runs
    mirrored before keys named their store (by context id and run name), and the runs to delete
    (incomplete, or a duplicate of a complete one)."""

    complete: dict[RunKey, Any] = field(default_factory=dict)
    unkeyed: dict[tuple[str, str], Any] = field(default_factory=dict)
    stale: list[Any] = field(default_factory=list)


def _classify(found: Mirrored, run: Any) -> None:
    """File one MLflow run under its key, or as stale."""
    tags = run.data.tags
    key, store = tags.get(KEY_TAG), tags.get(STORE_TAG)
    if key is None:
        return  # not the mirror's run
    if STATE_TAG not in tags:
        found.stale.append(run)
    elif store is None:
        found.unkeyed[(key, str(run.info.run_name))] = run
    elif (store, key) in found.complete:
        found.stale.append(run)
    else:
        found.complete[(store, key)] = run


def mirrored_runs(client: MlflowClient, experiment: str) -> Mirrored:
    """The experiment's live MLflow runs, oldest first, by their MLMD key."""
    found = Mirrored()
    token = None
    while True:
        page = client.search_runs([experiment], max_results=1000, page_token=token,
                                  order_by=["attributes.start_time ASC"])
        for run in page:
            _classify(found, run)
        token = page.token
        if not token:
            return found


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _log_values(client: MlflowClient, mlflow_run: str, run: MirrorRun) -> None:
    """Params, metrics (histories step by step) and tags, in batches MLflow accepts."""
    from mlflow.entities import Metric, Param, RunTag

    metrics = [Metric(k, v, run.end_ms, 0) for k, v in sorted(run.metrics.items())]
    metrics += [Metric(k, v, run.end_ms, step) for k, history in sorted(run.histories.items())
                for step, v in history]
    params = [Param(k, v) for k, v in sorted(run.params.items())]
    tags = [RunTag(k, v) for k, v in sorted(run.tags.items())]
    for chunk in _chunks(metrics, BATCH_LIMITS["metrics"]):
        client.log_batch(mlflow_run, metrics=list(chunk))
    for chunk in _chunks(params, BATCH_LIMITS["params"]):
        client.log_batch(mlflow_run, params=list(chunk))
    for chunk in _chunks(tags, BATCH_LIMITS["tags"]):
        client.log_batch(mlflow_run, tags=list(chunk))


def _log_files(client: MlflowClient, mlflow_run: str, run: MirrorRun, lineage_png: bytes | None) -> None:
    """Schema, anomalies, the lineage graph and the run summary as the run's artifacts."""
    for name, uri in sorted(run.files.items()):
        if artifact_files.is_dir(uri):
            with artifact_files.local_folder(uri) as folder:
                client.log_artifacts(mlflow_run, folder, name)
    with tempfile.TemporaryDirectory(prefix="mirror-") as scratch:
        summary = Path(scratch) / "run_summary.json"
        summary.write_text(json.dumps(run.summary, indent=2, sort_keys=True, default=str), "utf-8")
        client.log_artifact(mlflow_run, str(summary))
        for name, text in sorted(run.tables.items()):
            table = Path(scratch) / name
            table.write_text(text, "utf-8")
            client.log_artifact(mlflow_run, str(table))
        if lineage_png is not None:
            graph = Path(scratch) / "lineage.png"
            graph.write_bytes(lineage_png)
            client.log_artifact(mlflow_run, str(graph))


def write_run(client: MlflowClient, experiment: str, run: MirrorRun, existing: Any,
              lineage_png: bytes | None, store: str) -> str:
    """Create the MLflow run of a pipeline run of `store` (replacing one mirrored in an older
    state); its state tag is written last, so a run without it never counts as mirrored."""
    if existing is not None:
        client.delete_run(existing.info.run_id)
    # MLflow's User column: who mirrored the run (MlflowClient sets none of its default tags).
    tags = {KEY_TAG: run.key, STORE_TAG: store, "mlflow.user": getpass.getuser()}
    if run.reason:
        tags[REASON_TAG] = run.reason
        tags["mlflow.note.content"] = run.reason
    created = client.create_run(experiment, start_time=run.start_ms, tags=tags,
                                run_name=run.name or run.run_id)
    mlflow_run = str(created.info.run_id)
    _log_values(client, mlflow_run, run)
    _log_files(client, mlflow_run, run, lineage_png)
    if run.status != "RUNNING":
        client.set_terminated(mlflow_run, run.status, end_time=run.end_ms)
    client.set_tag(mlflow_run, STATE_TAG, run.status)
    return mlflow_run
