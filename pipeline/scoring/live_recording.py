"""Feedback and promotions as ML Metadata records them: a LabelFeedback artifact (the kept labels
file) and one LiveEvaluation execution per model version that read it and the version's
PushedModel, its live metrics as custom properties; a Promotion execution per `promote`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ml_metadata.proto import metadata_store_pb2

from pipeline.config import PipelineConfig
from pipeline.metadata import connection, pushes
from pipeline.metadata.live_evaluations import (
    LABEL_FEEDBACK,
    LABELS_KEY,
    LIVE_EVALUATION,
    LIVE_PREFIX,
    PROMOTION,
)
from pipeline.scoring.recording import event_for, set_properties
from pipeline.vocabulary import PUSHED_MODEL_KEY

if TYPE_CHECKING:
    from pipeline.scoring.feedback import FeedbackResult, ModelLive


def _execution(store, type_name: str, facts: Mapping[str, object]) -> metadata_store_pb2.Execution:
    """A COMPLETE execution of a type (registered on first use) with its facts."""
    type_id = store.put_execution_type(metadata_store_pb2.ExecutionType(name=type_name))
    execution = metadata_store_pb2.Execution(
        type_id=type_id, last_known_state=metadata_store_pb2.Execution.COMPLETE)
    set_properties(execution.custom_properties, facts)
    return execution


def _model_facts(pipeline_name: str, result: FeedbackResult, model: ModelLive,
                 source: str) -> dict[str, object]:
    """What a LiveEvaluation execution says about one version."""
    facts: dict[str, object] = {
        "pipeline_name": pipeline_name, "model_version": str(model.version),
        "roles": ",".join(model.roles), "step": result.step, "feedback_id": result.feedback_id,
        "rows": model.rows, "labels": result.labels, "unscored": result.unscored,
        "labels_source": source, "slices": json.dumps(model.slices, sort_keys=True),
        "breaches": json.dumps(list(model.breaches)),
    }
    comparison = result.comparison
    if comparison is not None and model.version == comparison.challenger:
        facts["comparison"] = json.dumps({
            "champion": comparison.champion, "rows": comparison.rows,
            "champion_metrics": comparison.champion_metrics,
            "challenger_metrics": comparison.challenger_metrics,
            "no_worse": comparison.no_worse, "reason": comparison.reason}, sort_keys=True)
    return {**facts, **{f"{LIVE_PREFIX}{name}": value for name, value in model.metrics.items()}}


def record_feedback(config: PipelineConfig, result: FeedbackResult, source: str) -> list[int]:
    """The labels artifact and one LiveEvaluation per version; returns the executions' ids."""
    store = connection.open_metadata(config, read_only=False)
    artifact_type = store.put_artifact_type(metadata_store_pb2.ArtifactType(name=LABEL_FEEDBACK))
    labels = metadata_store_pb2.Artifact(type_id=artifact_type, uri=str(result.labels_file.resolve()),
                                         state=metadata_store_pb2.Artifact.LIVE)
    set_properties(labels.custom_properties, {
        "pipeline_name": config.pipeline_name, "step": result.step,
        "feedback_id": result.feedback_id, "rows": result.labels})
    [labels.id] = store.put_artifacts([labels])
    ids = []
    for model in result.models:
        pushed = pushes.pushed_model(store, config.pipeline_name, str(model.version))
        execution = _execution(store, LIVE_EVALUATION,
                               _model_facts(config.pipeline_name, result, model, source))
        execution_id, _, _ = store.put_execution(execution, [
            (labels, event_for(metadata_store_pb2.Event.INPUT, LABELS_KEY, labels.id)),
            (pushed, event_for(metadata_store_pb2.Event.INPUT, PUSHED_MODEL_KEY, pushed.id)),
        ], contexts=[])
        ids.append(execution_id)
    return ids


def record_promotion(config: PipelineConfig, facts: Mapping[str, object],
                     models: Mapping[str, int]) -> int:
    """One promotion or refusal, with its evidence, linked to the PushedModels it compared."""
    store = connection.open_metadata(config, read_only=False)
    execution = _execution(store, PROMOTION, {"pipeline_name": config.pipeline_name, **facts})
    events = []
    for role, version in models.items():
        pushed = pushes.pushed_model(store, config.pipeline_name, str(version))
        events.append((pushed, event_for(metadata_store_pb2.Event.INPUT, role, pushed.id)))
    execution_id, _, _ = store.put_execution(execution, events, contexts=[])
    return execution_id
