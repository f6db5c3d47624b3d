"""Runs and component executions of a pipeline, as ML Metadata recorded them."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import cast

from ml_metadata.proto import metadata_store_pb2

from pipeline.metadata.connection import Artifact, Execution, LineageError, Store
from pipeline.vocabulary import PUSHED_MODEL_KEY, RUN_REASON_PROPERTY

PIPELINE_CONTEXT = "pipeline"


RUN_CONTEXT = "pipeline_run"


NODE_CONTEXT = "node"


INPUT_EVENTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)


OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)


# TFX's pre-IR launchers, used by AirflowDagRunner, record runs as 'run' contexts named
# '<pipeline>.<run id>' and the component id as an execution property.
LEGACY_RUN_CONTEXT = "run"


LEGACY_COMPONENT_ID = "component_id"


RUN_CONTEXT_TYPES = (RUN_CONTEXT, LEGACY_RUN_CONTEXT)


_STATE_NAMES = {
    value: name
    for name, value in metadata_store_pb2.Execution.State.items()
}


@dataclass(frozen=True)
class ComponentRun:
    """One component's execution within a run, with its outputs by key."""

    node_id: str
    state: str
    started: dt.datetime
    finished: dt.datetime
    execution: Execution
    outputs: dict[str, list[Artifact]] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """Wall time MLMD recorded between registering and publishing the execution."""
        return (self.finished - self.started).total_seconds()


def timestamp(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)


def run_contexts(store: Store, pipeline_name: str) -> list:
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


def latest_run_id(store: Store, pipeline_name: str) -> str:
    """The newest run of the pipeline."""
    runs = run_contexts(store, pipeline_name)
    if not runs:
        raise LineageError(f"no runs of pipeline '{pipeline_name}' in the metadata store")
    return runs[-1].name


def run_context_of(store: Store, run_id: str) -> metadata_store_pb2.Context | None:
    """The run's context, whichever TFX launcher recorded it."""
    for context_type in RUN_CONTEXT_TYPES:
        run = store.get_context_by_type_and_name(context_type, run_id)
        if run is not None:
            return run
    return None


def component_runs(store: Store, run_id: str) -> list[ComponentRun]:
    """Every execution of a run, in the order they started, with their output artifacts."""
    run = run_context_of(store, run_id)
    if run is None:
        raise LineageError(f"no run '{run_id}' in the metadata store")
    executions = sorted(store.get_executions_by_context(run.id), key=lambda e: e.id)
    events = store.get_events_by_execution_ids([e.id for e in executions])
    artifacts = {a.id: a for a in store.get_artifacts_by_id(list({e.artifact_id for e in events}))}
    outputs: dict[int, dict[str, list]] = {e.id: {} for e in executions}
    for event in events:
        if event.type in OUTPUT_EVENTS:
            outputs[event.execution_id].setdefault(event_key(event), []).append(
                artifacts[event.artifact_id])
    return [
        ComponentRun(
            node_id=node_id_of(store, execution),
            state=_STATE_NAMES.get(execution.last_known_state, "UNKNOWN"),
            started=timestamp(execution.create_time_since_epoch),
            finished=timestamp(execution.last_update_time_since_epoch),
            execution=execution,
            outputs=outputs[execution.id],
        )
        for execution in executions
    ]


def node_id_of(store: Store, execution: Execution) -> str:
    """The component id: a legacy execution property, or the node context TFX attaches."""
    if LEGACY_COMPONENT_ID in execution.properties:
        return execution.properties[LEGACY_COMPONENT_ID].string_value
    node_type = store.get_context_type(NODE_CONTEXT)
    for context in store.get_contexts_by_execution(execution.id):
        if context.type_id == node_type.id:
            return context.name.split(".", 1)[1]
    return str(execution.id)


def custom_property(artifact: Artifact, name: str) -> object:
    """A custom property's value whatever its type (int, string, double, struct)."""
    if name not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[name]
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def property_value(item: Artifact | Execution | metadata_store_pb2.Context, name: str) -> object:
    """A property or custom property of an execution or artifact, whichever is set."""
    for values in (item.properties, item.custom_properties):
        if name in values:
            kind = values[name].WhichOneof("value")
            return getattr(values[name], kind) if kind else None
    return None


def string_property(item: Artifact | Execution, name: str) -> str | None:
    """A string (MLMD string_value) property or custom property; None when unset."""
    return cast("str | None", property_value(item, name))


def int_property(item: Artifact | Execution, name: str) -> int | None:
    """An integer (MLMD int_value) property or custom property; None when unset."""
    return cast("int | None", property_value(item, name))


def json_property(item: Artifact | Execution, name: str) -> object:
    """A JSON-encoded execution property (custom_config, train_args) decoded; None when unset."""
    text = property_value(item, name)
    return json.loads(text) if isinstance(text, str) and text else None


def struct_property(item: Artifact | Execution, name: str) -> object:
    """A JSON value a component set with TFX's set_json_value_custom_property (an MLMD struct,
    lists and numbers wrapped under '__value__'); None when unset."""
    from google.protobuf import json_format

    if name not in item.custom_properties or \
            item.custom_properties[name].WhichOneof("value") != "struct_value":
        return None
    value = json_format.MessageToDict(item.custom_properties[name].struct_value)
    return value.get("__value__", value) if isinstance(value, dict) else value


@dataclass(frozen=True)
class RunRecord:
    """One pipeline run: when, how long, and how each component ended (COMPLETE, CACHED, ...)."""

    run_id: str
    started: dt.datetime
    finished: dt.datetime
    states: dict[str, str]
    pushed_version: str | None = None
    # Why it ran (schedule, drift alert: ..., live degradation: ..., by hand); None for runs
    # recorded before reasons were.
    reason: str | None = None

    @property
    def seconds(self) -> float:
        """Wall time from the first execution registered to the last one published."""
        return (self.finished - self.started).total_seconds()

    @property
    def cached(self) -> list[str]:
        """Components whose outputs were reused from an earlier run."""
        return [node for node, state in self.states.items() if state == "CACHED"]

    @property
    def status(self) -> str:
        """FAILED if any component failed, RUNNING if one is unfinished, else COMPLETE."""
        states = set(self.states.values())
        for status, members in (("FAILED", {"FAILED"}), ("RUNNING", {"NEW", "RUNNING"})):
            if states & members:
                return status
        return "COMPLETE"


def list_runs(store: Store, pipeline_name: str) -> list[RunRecord]:
    """Every run of the pipeline, oldest first."""
    records = []
    for context in run_contexts(store, pipeline_name):
        components = component_runs(store, context.name)
        records.append(RunRecord(
            run_id=context.name,
            started=min(c.started for c in components),
            finished=max(c.finished for c in components),
            states={c.node_id: c.state for c in components},
            pushed_version=_pushed_version(components),
            reason=run_reason(context),
        ))
    return records


def run_reason(context: metadata_store_pb2.Context) -> str | None:
    """Why the run happened, as its runner recorded it on its context (run/run_reason.py)."""
    value = property_value(context, RUN_REASON_PROPERTY)
    return str(value) if value else None


def pushed_version(pushed_model: Artifact) -> str | None:
    """The serving version a PushedModel artifact was published as; None when the Pusher did not
    publish it (not blessed, or an identical model already served)."""
    if property_value(pushed_model, "pushed") != 1:
        return None
    version = property_value(pushed_model, "pushed_version")
    return str(version) if version is not None else None


def published_version(pushed_model: Artifact) -> str:
    """The serving version of a PushedModel known to be published (pushes.pushed_models returns
    only those); LineageError if it was not."""
    version = pushed_version(pushed_model)
    if version is None:
        raise LineageError(f"PushedModel artifact {pushed_model.id} was not published to serving")
    return version


def _pushed_version(components: list[ComponentRun]) -> str | None:
    """The serving version a run published, if its Pusher published one."""
    versions = (pushed_version(pushed) for component in components
                for pushed in component.outputs.get(PUSHED_MODEL_KEY, []))
    return next((v for v in versions if v is not None), None)


def find_run(store: Store, pipeline_name: str, run_id: str) -> RunRecord:
    """One run by id (or 'latest'), naming the known runs when it is not there."""
    runs = list_runs(store, pipeline_name)
    if not runs:
        raise LineageError(f"no runs of pipeline '{pipeline_name}' in the metadata store")
    if run_id == "latest":
        return runs[-1]
    for run in runs:
        if run.run_id == run_id:
            return run
    known = ", ".join(r.run_id for r in runs[-5:])
    raise LineageError(f"no run '{run_id}' of pipeline '{pipeline_name}' (latest runs: {known})")


def event_key(event: metadata_store_pb2.Event) -> str:
    return event.path.steps[0].key if event.path.steps else ""


def run_of(store: Store, execution_id: int) -> str | None:
    """The id of the run an execution belongs to, whichever TFX launcher recorded it (a store
    Airflow's legacy launcher wrote has no 'pipeline_run' type at all)."""
    types = {context_type.id for context_type in store.get_context_types()
             if context_type.name in RUN_CONTEXT_TYPES}
    return next((c.name for c in store.get_contexts_by_execution(execution_id)
                 if c.type_id in types), None)
