"""Which data, code, config and packages each served model version was made from (from MLMD)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ml_metadata.proto import metadata_store_pb2

from pipeline import lineage

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


def run_of(store: object, execution_id: int) -> str | None:
    """The pipeline run an execution belongs to."""
    run_type = store.get_context_type(lineage.RUN_CONTEXT)
    for context in store.get_contexts_by_execution(execution_id):
        if context.type_id == run_type.id:
            return context.name
    return None


def pushing_run(store: object, pushed_model: metadata_store_pb2.Artifact) -> str | None:
    """The run whose Pusher execution output this PushedModel."""
    events = store.get_events_by_artifact_ids([pushed_model.id])
    producer = next((e.execution_id for e in events
                     if e.type == metadata_store_pb2.Event.OUTPUT), None)
    return run_of(store, producer) if producer is not None else None


def run_context(store: object, run_id: str) -> dict[str, object]:
    """The RunContext custom properties of a run (empty for runs made before it existed)."""
    runs = {c.node_id: c for c in lineage.component_runs(store, run_id)}
    node = runs.get(RUN_CONTEXT_NODE)
    if node is None or not node.outputs.get("run_context"):
        return {}
    artifact = node.outputs["run_context"][0]
    return {name: lineage.custom_property(artifact, name) for name in artifact.custom_properties}


def version_records(store: object) -> list[VersionRecord]:
    """Every version the pipeline pushed, oldest first."""
    records = []
    for model in sorted(store.get_artifacts_by_type("PushedModel"), key=lambda a: a.id):
        if lineage.custom_property(model, "pushed") != 1:
            continue
        run_id = pushing_run(store, model) or "unknown"
        records.append(VersionRecord(
            version=str(lineage.custom_property(model, "pushed_version")),
            run_id=run_id,
            destination=str(lineage.custom_property(model, "pushed_destination")),
            context=run_context(store, run_id) if run_id != "unknown" else {},
        ))
    return records


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
