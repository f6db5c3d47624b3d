"""Batch scorings as ML Metadata records them: which pushed version scored how many rows, when."""

from __future__ import annotations

from dataclasses import dataclass

from ml_metadata.proto import metadata_store_pb2

from pipeline.metadata.connection import Store
from pipeline.metadata.records import property_value as custom_property

# The execution type of one `score`, its output artifact's type, and its events' keys.
BATCH_SCORING = "BatchScoring"
BATCH_SCORES = "BatchScores"
SCORES_KEY = "scores"


@dataclass(frozen=True)
class Scoring:
    """One recorded scoring: the version it used (and its PushedModel), its rows and output."""

    execution_id: int
    batch_id: str
    model_version: str
    label: str
    rows: int
    seconds: float
    data_fingerprint: str
    scores_uri: str
    pushed_model_id: int | None


def scorings(store: Store, pipeline_name: str) -> list[Scoring]:
    """The pipeline's batch scorings, oldest first."""
    if BATCH_SCORING not in {t.name for t in store.get_execution_types()}:
        return []
    executions = store.get_executions_by_type(BATCH_SCORING)
    found = []
    for execution in sorted(executions, key=lambda e: e.id):
        if custom_property(execution, "pipeline_name") != pipeline_name:
            continue
        events = store.get_events_by_execution_ids([execution.id])
        inputs = [e.artifact_id for e in events if e.type == metadata_store_pb2.Event.INPUT]
        outputs = store.get_artifacts_by_id(
            [e.artifact_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT])
        found.append(Scoring(
            execution_id=execution.id,
            batch_id=str(custom_property(execution, "batch_id")),
            model_version=str(custom_property(execution, "model_version")),
            label=str(custom_property(execution, "label") or ""),
            rows=int(str(custom_property(execution, "rows") or 0)),
            seconds=float(str(custom_property(execution, "seconds") or 0.0)),
            data_fingerprint=str(custom_property(execution, "data_fingerprint")),
            scores_uri=outputs[0].uri if outputs else "",
            pushed_model_id=inputs[0] if inputs else None,
        ))
    return found
