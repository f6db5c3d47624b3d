"""Pushed versions: which models a pipeline published to serving, and from which run."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ml_metadata.proto import metadata_store_pb2

from pipeline.metadata import records
from pipeline.metadata.connection import Artifact, LineageError, Store
from pipeline.metadata.records import (
    INPUT_EVENTS,
    OUTPUT_EVENTS,
    PIPELINE_CONTEXT,
    event_key,
    property_value,
    run_of,
)


def _pipeline_artifacts(
    store: Store, pipeline_name: str, type_name: str
) -> list[Artifact]:
    """Artifacts of one type attributed to the pipeline, oldest first."""
    pipeline = store.get_context_by_type_and_name(PIPELINE_CONTEXT, pipeline_name)
    if pipeline is None:
        return []
    return sorted((a for a in store.get_artifacts_by_context(pipeline.id)
                   if a.type_id == artifact_type_id(store, type_name)), key=lambda a: a.id)


def artifact_type_id(store: Store, type_name: str) -> int | None:
    types = {t.name: t.id for t in store.get_artifact_types()}
    return types.get(type_name)


def pushed_models(
    store: Store, pipeline_name: str
) -> list[Artifact]:
    """PushedModel artifacts of models that were really published, oldest first."""
    return [a for a in _pipeline_artifacts(store, pipeline_name, "PushedModel")
            if property_value(a, "pushed") == 1]


def pushed_model(
    store: Store, pipeline_name: str, version: str | None = None
) -> Artifact:
    """The PushedModel of a serving version (the latest push when version is None)."""
    pushed = pushed_models(store, pipeline_name)
    if not pushed:
        raise LineageError(f"no model of pipeline '{pipeline_name}' was ever pushed")
    if version is None:
        return pushed[-1]
    matches = [a for a in pushed if str(property_value(a, "pushed_version")) == str(version)]
    if not matches:
        known = ", ".join(str(property_value(a, "pushed_version")) for a in pushed)
        raise LineageError(
            f"no pushed version '{version}' of pipeline '{pipeline_name}' (pushed: {known})")
    return matches[-1]


def pushed_versions(store: Store, model_id: int) -> list[str]:
    """Serving versions a Model artifact was published as, by any Pusher."""
    consumers = [e.execution_id for e in store.get_events_by_artifact_ids([model_id])
                 if e.type in INPUT_EVENTS and event_key(e) == "model"]
    events = store.get_events_by_execution_ids(consumers)
    outputs = [e.artifact_id for e in events
               if e.type in OUTPUT_EVENTS and event_key(e) == "pushed_model"]
    return [str(property_value(a, "pushed_version")) for a in store.get_artifacts_by_id(outputs)
            if property_value(a, "pushed") == 1]


def previous_version(
    store: Store, pipeline_name: str, version: str
) -> str | None:
    """The serving version pushed just before `version`, if any."""
    pushed = pushed_models(store, pipeline_name)
    versions = [str(property_value(a, "pushed_version")) for a in pushed]
    index = versions.index(str(version))
    return versions[index - 1] if index > 0 else None


RUN_CONTEXT_NODE = "RecordRunContext"


SHOWN = ("data_span", "data_fingerprint", "git_commit", "git_dirty", "code_fingerprint",
         "uv_lock_sha256", "packages")


@dataclass(frozen=True)
class VersionRecord:
    """One pushed version and the run context of the run that pushed it."""

    version: str
    run_id: str
    destination: str
    context: dict[str, object]


def pushing_run(store: object, pushed_model: metadata_store_pb2.Artifact) -> str | None:
    """The run whose Pusher execution output this PushedModel."""
    events = store.get_events_by_artifact_ids([pushed_model.id])
    producer = next((e.execution_id for e in events
                     if e.type == metadata_store_pb2.Event.OUTPUT), None)
    return run_of(store, producer) if producer is not None else None


def run_context(store: object, run_id: str) -> dict[str, object]:
    """The RunContext custom properties of a run (empty for runs made before it existed)."""
    runs = {c.node_id: c for c in records.component_runs(store, run_id)}
    node = runs.get(RUN_CONTEXT_NODE)
    if node is None or not node.outputs.get("run_context"):
        return {}
    artifact = node.outputs["run_context"][0]
    return {name: records.custom_property(artifact, name) for name in artifact.custom_properties}


def version_records(store: object) -> list[VersionRecord]:
    """Every version the pipeline pushed, oldest first."""
    found = []
    for model in sorted(store.get_artifacts_by_type("PushedModel"), key=lambda a: a.id):
        if records.custom_property(model, "pushed") != 1:
            continue
        run_id = pushing_run(store, model) or "unknown"
        found.append(VersionRecord(
            version=str(records.custom_property(model, "pushed_version")),
            run_id=run_id,
            destination=str(records.custom_property(model, "pushed_destination")),
            context=run_context(store, run_id) if run_id != "unknown" else {},
        ))
    return found


def format_versions(records: list[VersionRecord]) -> str:
    """A block per version: where it is served and what it was made from."""
    if not records:
        return "no pushed versions"
    blocks = []
    for record in records:
        lines = [f"version {record.version}  run {record.run_id}",
                 f"  served at        {record.destination}"]
        for name in SHOWN:
            value = record.context.get(name, "not recorded")
            if name == "packages" and isinstance(value, str) and value.startswith("{"):
                value = ", ".join(f"{k} {v}" for k, v in json.loads(value).items())
            lines.append(f"  {name:17}{value}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
