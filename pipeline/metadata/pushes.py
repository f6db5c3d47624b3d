"""Pushed versions: which models a pipeline published to serving, and from which run."""

from __future__ import annotations

from dataclasses import dataclass

from ml_metadata.proto import metadata_store_pb2

from pipeline.metadata import records
from pipeline.metadata.connection import Artifact, LineageError, Store
from pipeline.metadata.records import (
    INPUT_EVENTS,
    OUTPUT_EVENTS,
    PIPELINE_CONTEXT,
    event_key,
    published_version,
    pushed_version,
    run_of,
)
from pipeline.vocabulary import MODEL_KEY, PUSHED_MODEL_KEY, RECORD_RUN_CONTEXT, RUN_CONTEXT_KEY

PUSHED_MODEL = "PushedModel"


def artifact_type_id(store: Store, type_name: str) -> int | None:
    types = {t.name: t.id for t in store.get_artifact_types()}
    return types.get(type_name)


def pushed_models(store: Store, pipeline_name: str) -> list[Artifact]:
    """The PushedModel artifacts this pipeline really published to serving, oldest first.

    The one answer to "which versions were pushed, for this pipeline": only artifacts attributed
    to the pipeline's context count, so pipelines sharing a store never see each other's pushes.
    """
    pipeline = store.get_context_by_type_and_name(PIPELINE_CONTEXT, pipeline_name)
    type_id = artifact_type_id(store, PUSHED_MODEL)
    if pipeline is None or type_id is None:
        return []
    return sorted((a for a in store.get_artifacts_by_context(pipeline.id)
                   if a.type_id == type_id and pushed_version(a) is not None),
                  key=lambda a: a.id)


def recorded_versions(store: Store, pipeline_name: str) -> set[str]:
    """The serving versions the store records as pushed by this pipeline."""
    return {published_version(artifact) for artifact in pushed_models(store, pipeline_name)}


def was_blessed(store: Store, pushed_model_id: int) -> bool:
    """Whether the execution that pushed this artifact read a ModelBlessing with blessed=1."""
    events = store.get_events_by_artifact_ids([pushed_model_id])
    executions = [e.execution_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT]
    inputs = [
        e.artifact_id for e in store.get_events_by_execution_ids(executions)
        if e.type == metadata_store_pb2.Event.INPUT
    ]
    blessing_type = store.get_artifact_type("ModelBlessing")
    return any(
        a.type_id == blessing_type.id and records.custom_property(a, "blessed") == 1
        for a in store.get_artifacts_by_id(inputs)
    )


def pushed_model(
    store: Store, pipeline_name: str, version: str | None = None
) -> Artifact:
    """The PushedModel of a serving version (the latest push when version is None)."""
    pushed = pushed_models(store, pipeline_name)
    if not pushed:
        raise LineageError(f"no model of pipeline '{pipeline_name}' was ever pushed")
    if version is None:
        return pushed[-1]
    matches = [a for a in pushed if pushed_version(a) == str(version)]
    if not matches:
        known = ", ".join(published_version(a) for a in pushed)
        raise LineageError(
            f"no pushed version '{version}' of pipeline '{pipeline_name}' (pushed: {known})")
    return matches[-1]


def pushed_versions(store: Store, model_id: int) -> list[str]:
    """Serving versions a Model artifact was published as, by any Pusher."""
    consumers = [e.execution_id for e in store.get_events_by_artifact_ids([model_id])
                 if e.type in INPUT_EVENTS and event_key(e) == MODEL_KEY]
    events = store.get_events_by_execution_ids(consumers)
    outputs = [e.artifact_id for e in events
               if e.type in OUTPUT_EVENTS and event_key(e) == PUSHED_MODEL_KEY]
    versions = (pushed_version(a) for a in store.get_artifacts_by_id(outputs))
    return [v for v in versions if v is not None]


def previous_version(
    store: Store, pipeline_name: str, version: str
) -> str | None:
    """The serving version pushed just before `version`, if any."""
    versions = [pushed_version(a) for a in pushed_models(store, pipeline_name)]
    index = versions.index(str(version))
    return versions[index - 1] if index > 0 else None


@dataclass(frozen=True)
class VersionRecord:
    """One pushed version and the run context of the run that pushed it."""

    version: str
    run_id: str
    destination: str
    context: dict[str, object]
    fingerprint: str = ""  # the pushed SavedModel's content hash ("" when the push recorded none)


def pushing_run(store: Store, pushed_model: Artifact) -> str | None:
    """The run whose Pusher execution output this PushedModel."""
    events = store.get_events_by_artifact_ids([pushed_model.id])
    producer = next((e.execution_id for e in events
                     if e.type == metadata_store_pb2.Event.OUTPUT), None)
    return run_of(store, producer) if producer is not None else None


def recorded_run_context(store: Store, run_id: str) -> dict[str, object]:
    """The RunContext custom properties a run recorded (empty for runs made before it existed)."""
    runs = {c.node_id: c for c in records.component_runs(store, run_id)}
    node = runs.get(RECORD_RUN_CONTEXT)
    if node is None or not node.outputs.get(RUN_CONTEXT_KEY):
        return {}
    artifact = node.outputs[RUN_CONTEXT_KEY][0]
    return {name: records.custom_property(artifact, name) for name in artifact.custom_properties}


def version_records(store: Store, pipeline_name: str) -> list[VersionRecord]:
    """Every version the pipeline pushed, oldest first, with the context of the run that did."""
    versions = []
    for model in pushed_models(store, pipeline_name):
        run_id = pushing_run(store, model) or "unknown"
        versions.append(VersionRecord(
            version=published_version(model),
            run_id=run_id,
            destination=str(records.custom_property(model, "pushed_destination")),
            context=recorded_run_context(store, run_id) if run_id != "unknown" else {},
            fingerprint=str(records.custom_property(model, "model_fingerprint") or ""),
        ))
    return versions
