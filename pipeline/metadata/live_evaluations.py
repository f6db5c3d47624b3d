"""Live metrics and promotions as ML Metadata records them: a LiveEvaluation execution per model
version and feedback batch (inputs: the kept labels file and the version's PushedModel), and a
Promotion execution per `promote` (promoted or refused, with its evidence)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ml_metadata.proto import metadata_store_pb2

from pipeline.metadata.connection import Store
from pipeline.metadata.records import property_value

# Execution and artifact types, event keys, and the prefix of a live metric's custom property.
LIVE_EVALUATION, LABEL_FEEDBACK, LABELS_KEY = "LiveEvaluation", "LabelFeedback", "labels"
PROMOTION = "Promotion"
LIVE_PREFIX = "live."


@dataclass(frozen=True)
class LiveEvaluation:
    """One model version's live metrics on one feedback batch."""

    execution_id: int
    model_version: str
    roles: str
    step: int
    feedback_id: str
    rows: int
    metrics: dict[str, float]
    slices: dict[str, dict[str, dict[str, float]]]
    breaches: list[str]
    labels_uri: str
    recorded_ms: int


@dataclass(frozen=True)
class Promotion:
    """One `promote`: promoted or refused, from which version to which, and why."""

    execution_id: int
    promoted: bool
    stable: str
    canary: str
    rows: int
    reason: str
    evidence: dict


def _executions(store: Store, type_name: str, pipeline_name: str) -> list:
    """The pipeline's executions of one type, oldest first."""
    if type_name not in {t.name for t in store.get_execution_types()}:
        return []
    return [e for e in sorted(store.get_executions_by_type(type_name), key=lambda e: e.id)
            if property_value(e, "pipeline_name") == pipeline_name]


def _text(execution, name: str) -> str:
    value = property_value(execution, name)
    return "" if value is None else str(value)


def live_evaluations(store: Store, pipeline_name: str) -> list[LiveEvaluation]:
    """Every live evaluation of the pipeline, oldest first."""
    found = []
    for execution in _executions(store, LIVE_EVALUATION, pipeline_name):
        events = store.get_events_by_execution_ids([execution.id])
        labels = [e.artifact_id for e in events if e.type == metadata_store_pb2.Event.INPUT
                  and e.path.steps and e.path.steps[0].key == LABELS_KEY]
        uris = [a.uri for a in store.get_artifacts_by_id(labels)]
        found.append(LiveEvaluation(
            execution_id=execution.id, model_version=_text(execution, "model_version"),
            roles=_text(execution, "roles"), step=int(_text(execution, "step") or 0),
            feedback_id=_text(execution, "feedback_id"), rows=int(_text(execution, "rows") or 0),
            metrics={name.removeprefix(LIVE_PREFIX): float(str(property_value(execution, name)))
                     for name in sorted(execution.custom_properties)
                     if name.startswith(LIVE_PREFIX)},
            slices=json.loads(_text(execution, "slices") or "{}"),
            breaches=json.loads(_text(execution, "breaches") or "[]"),
            labels_uri=uris[0] if uris else "", recorded_ms=execution.create_time_since_epoch))
    return found


def latest_live(store: Store, pipeline_name: str) -> dict[str, LiveEvaluation]:
    """The newest live evaluation of each model version."""
    return {e.model_version: e for e in live_evaluations(store, pipeline_name)}


def promotions(store: Store, pipeline_name: str) -> list[Promotion]:
    """Every promotion and refusal of the pipeline, oldest first."""
    return [Promotion(
        execution_id=e.id, promoted=_text(e, "promoted") == "1", stable=_text(e, "stable"),
        canary=_text(e, "canary"), rows=int(_text(e, "rows") or 0), reason=_text(e, "reason"),
        evidence=json.loads(_text(e, "evidence") or "{}"))
        for e in _executions(store, PROMOTION, pipeline_name)]
