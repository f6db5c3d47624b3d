"""Read-only questions over ML Metadata: runs, component executions and their artifacts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

PIPELINE_CONTEXT = "pipeline"
RUN_CONTEXT = "pipeline_run"
NODE_CONTEXT = "node"
# TFX's pre-IR launchers, used by AirflowDagRunner, record runs as 'run' contexts named
# '<pipeline>.<run id>' and the component id as an execution property.
LEGACY_RUN_CONTEXT = "run"
LEGACY_COMPONENT_ID = "component_id"
RUN_CONTEXT_TYPES = (RUN_CONTEXT, LEGACY_RUN_CONTEXT)
_STATE_NAMES = {
    value: name
    for name, value in metadata_store_pb2.Execution.State.items()
}


class LineageError(LookupError):
    """What was asked for is not in the metadata store; the message says what."""


@dataclass(frozen=True)
class ComponentRun:
    """One component's execution within a run, with its outputs by key."""

    node_id: str
    state: str
    started: dt.datetime
    finished: dt.datetime
    execution: metadata_store_pb2.Execution
    outputs: dict[str, list[metadata_store_pb2.Artifact]] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """Wall time MLMD recorded between registering and publishing the execution."""
        return (self.finished - self.started).total_seconds()


def open_store(connection_config: metadata_store_pb2.ConnectionConfig) -> metadata_store.MetadataStore:
    """A store handle; MLMD creates nothing we did not ask for when read-only use follows."""
    return metadata_store.MetadataStore(connection_config)


def sqlite_connection(path: str, must_exist: bool = True) -> metadata_store_pb2.ConnectionConfig:
    """Connection config for a SQLite store, refusing to create one when only reading."""
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = path
    config.sqlite.connection_mode = (
        metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
        if must_exist
        else metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    )
    return config


def _time(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)


def run_contexts(store: metadata_store.MetadataStore, pipeline_name: str) -> list:
    """Run contexts of one pipeline, oldest first."""
    pipeline = store.get_context_by_type_and_name(PIPELINE_CONTEXT, pipeline_name)
    if pipeline is None:
        return []
    pipeline_executions = {e.id for e in store.get_executions_by_context(pipeline.id)}
    runs = [
        run
        for context_type in RUN_CONTEXT_TYPES
        for run in store.get_contexts_by_type(context_type)
        if pipeline_executions & {e.id for e in store.get_executions_by_context(run.id)}
    ]
    return sorted(runs, key=lambda c: (c.create_time_since_epoch, c.id))


def latest_run_id(store: metadata_store.MetadataStore, pipeline_name: str) -> str:
    """The newest run of the pipeline."""
    runs = run_contexts(store, pipeline_name)
    if not runs:
        raise LineageError(f"no runs of pipeline '{pipeline_name}' in the metadata store")
    return runs[-1].name


def _run_context(store: metadata_store.MetadataStore, run_id: str):
    """The run's context, whichever TFX launcher recorded it."""
    for context_type in RUN_CONTEXT_TYPES:
        run = store.get_context_by_type_and_name(context_type, run_id)
        if run is not None:
            return run
    return None


def component_runs(store: metadata_store.MetadataStore, run_id: str) -> list[ComponentRun]:
    """Every execution of a run, in the order they started, with their output artifacts."""
    run = _run_context(store, run_id)
    if run is None:
        raise LineageError(f"no run '{run_id}' in the metadata store")
    executions = sorted(store.get_executions_by_context(run.id), key=lambda e: e.id)
    events = store.get_events_by_execution_ids([e.id for e in executions])
    artifacts = {a.id: a for a in store.get_artifacts_by_id(list({ev.artifact_id for ev in events}))}
    outputs: dict[int, dict[str, list]] = {e.id: {} for e in executions}
    for event in events:
        if event.type in (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT):
            key = event.path.steps[0].key if event.path.steps else ""
            outputs[event.execution_id].setdefault(key, []).append(artifacts[event.artifact_id])
    return [
        ComponentRun(
            node_id=_node_id(store, execution),
            state=_STATE_NAMES.get(execution.last_known_state, "UNKNOWN"),
            started=_time(execution.create_time_since_epoch),
            finished=_time(execution.last_update_time_since_epoch),
            execution=execution,
            outputs=outputs[execution.id],
        )
        for execution in executions
    ]


def _node_id(store: metadata_store.MetadataStore, execution: metadata_store_pb2.Execution) -> str:
    """The component id: a legacy execution property, or the node context TFX attaches."""
    if LEGACY_COMPONENT_ID in execution.properties:
        return execution.properties[LEGACY_COMPONENT_ID].string_value
    node_type = store.get_context_type(NODE_CONTEXT)
    for context in store.get_contexts_by_execution(execution.id):
        if context.type_id == node_type.id:
            return context.name.split(".", 1)[1]
    return str(execution.id)


def custom_property(artifact: metadata_store_pb2.Artifact, name: str) -> object:
    """A custom property's value whatever its type (int, string, double, struct)."""
    if name not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[name]
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None
