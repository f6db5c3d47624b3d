"""A scoring as ML Metadata records it: a BatchScoring execution that read the PushedModel of the
version it used and wrote a BatchScores artifact (the scores file), with the scoring's facts."""

from __future__ import annotations

from collections.abc import Mapping

from ml_metadata.proto import metadata_store_pb2

from pipeline.config import PipelineConfig
from pipeline.metadata import connection
from pipeline.metadata.connection import Artifact
from pipeline.metadata.scorings import BATCH_SCORES, BATCH_SCORING, SCORES_KEY
from pipeline.vocabulary import PUSHED_MODEL_KEY


def set_properties(properties, values: Mapping[str, object]) -> None:
    """Custom properties by Python type: int, float or text."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            properties[name].string_value = "" if value is None else str(value)
        elif isinstance(value, int):
            properties[name].int_value = value
        else:
            properties[name].double_value = value


def event_for(kind: int, key: str, artifact_id: int | None = None) -> metadata_store_pb2.Event:
    """An input or output event under one key (a new artifact's id is left for MLMD to set)."""
    event = metadata_store_pb2.Event(type=kind)  # type: ignore[arg-type]
    if artifact_id is not None:
        event.artifact_id = artifact_id
    event.path.steps.add().key = key
    return event


def record_scoring(config: PipelineConfig, pushed_model: Artifact, scores_uri: str,
                   facts: Mapping[str, object]) -> int:
    """Record one scoring in the project's store, in one transaction; returns the execution id."""
    store = connection.open_metadata(config, read_only=False)
    execution_type = store.put_execution_type(metadata_store_pb2.ExecutionType(name=BATCH_SCORING))
    artifact_type = store.put_artifact_type(metadata_store_pb2.ArtifactType(name=BATCH_SCORES))
    execution = metadata_store_pb2.Execution(
        type_id=execution_type, last_known_state=metadata_store_pb2.Execution.COMPLETE)
    set_properties(execution.custom_properties, {"pipeline_name": config.pipeline_name, **facts})
    scores = metadata_store_pb2.Artifact(
        type_id=artifact_type, uri=scores_uri, state=metadata_store_pb2.Artifact.LIVE)
    set_properties(scores.custom_properties,
                   {key: facts[key] for key in ("rows", "model_version", "batch_id")})
    execution_id, _, _ = store.put_execution(execution, [
        (pushed_model, event_for(metadata_store_pb2.Event.INPUT, PUSHED_MODEL_KEY, pushed_model.id)),
        (scores, event_for(metadata_store_pb2.Event.OUTPUT, SCORES_KEY)),
    ], contexts=[])
    return execution_id
