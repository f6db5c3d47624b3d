"""Read-only questions over ML Metadata: runs, component executions and their artifacts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from pipeline.config import MetadataBackend, PipelineConfig, config_from_values, env_values

PIPELINE_CONTEXT = "pipeline"
RUN_CONTEXT = "pipeline_run"
NODE_CONTEXT = "node"
Store = metadata_store.MetadataStore
Artifact = metadata_store_pb2.Artifact
Execution = metadata_store_pb2.Execution
_INPUTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)
_OUTPUTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
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
    execution: Execution
    outputs: dict[str, list[Artifact]] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """Wall time MLMD recorded between registering and publishing the execution."""
        return (self.finished - self.started).total_seconds()


def open_store(connection_config: metadata_store_pb2.ConnectionConfig) -> Store:
    """A store handle; MLMD creates nothing we did not ask for when read-only use follows."""
    return Store(connection_config)


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


def server_connection(
    config: PipelineConfig, must_exist: bool = True
) -> metadata_store_pb2.ConnectionConfig:
    """Connection config for the configured mysql (MariaDB too) or postgresql store.

    Readers pass must_exist=True, so a mistyped database name is an error, not a new empty store.
    """
    connection = metadata_store_pb2.ConnectionConfig()
    common = {"host": config.metadata_host, "user": config.metadata_user,
              "password": config.metadata_password, "skip_db_creation": must_exist}
    port, database = config.metadata_server_port, config.metadata_database
    if config.metadata_backend is MetadataBackend.MYSQL:
        connection.mysql.CopyFrom(
            metadata_store_pb2.MySQLDatabaseConfig(port=port, database=database, **common))
    elif config.metadata_backend is MetadataBackend.POSTGRESQL:
        connection.postgresql.CopyFrom(
            metadata_store_pb2.PostgreSQLDatabaseConfig(port=str(port), dbname=database, **common))
    else:
        raise ValueError(f"{config.metadata_backend.value} is not a metadata server")
    return connection


def store_settings(
    environ: Mapping[str, str], metadata_path: Path | None = None, pipeline_name: str | None = None
) -> tuple[Path, str]:
    """Store path and pipeline name: arguments, then PIPELINE_* env vars, then config defaults."""
    values = env_values(environ)
    defaults = {f.name: f.default for f in dataclasses.fields(PipelineConfig)}
    path = metadata_path or Path(values.get("metadata_path", defaults["metadata_path"]))
    return path, pipeline_name or values.get("pipeline_name", defaults["pipeline_name"])


def open_existing(path: Path) -> Store:
    """A read-only handle on a SQLite store that must already exist (none is ever created)."""
    if not Path(path).is_file():
        raise LineageError(
            f"no metadata store at {path}: run the pipeline first (python -m pipeline run) "
            "or point --metadata / PIPELINE_METADATA_PATH at an existing store")
    try:
        return open_store(sqlite_connection(str(path), must_exist=True))
    except RuntimeError as error:
        raise LineageError(f"{path} is not a readable ML Metadata store: {error}") from error


def open_for_reading(environ: Mapping[str, str], path: Path) -> Store:
    """The server PIPELINE_METADATA_BACKEND (and _HOST, _USER, ...) selects, else the SQLite file."""
    settings = {k: v for k, v in env_values(environ).items() if k.startswith("metadata_")}
    config = config_from_values(settings)
    if config.metadata_backend is MetadataBackend.SQLITE:
        return open_existing(path)
    try:
        return open_store(server_connection(config, must_exist=True))
    except RuntimeError as error:
        raise LineageError(f"cannot read ML Metadata at {config.metadata_location}: {error}") from error


def _time(ms: int) -> dt.datetime:
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
        if event.type in _OUTPUTS:
            outputs[event.execution_id].setdefault(_event_key(event), []).append(
                artifacts[event.artifact_id])
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


def _node_id(store: Store, execution: Execution) -> str:
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


def property_value(item: object, name: str) -> object:
    """A property or custom property of an execution or artifact, whichever is set."""
    for values in (item.properties, item.custom_properties):
        if name in values:
            kind = values[name].WhichOneof("value")
            return getattr(values[name], kind) if kind else None
    return None


def json_property(item: object, name: str) -> object:
    """A JSON-encoded execution property (custom_config, train_args) decoded; None when unset."""
    text = property_value(item, name)
    return json.loads(text) if isinstance(text, str) and text else None


# --- runs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRecord:
    """One pipeline run: when, how long, and how each component ended (COMPLETE, CACHED, ...)."""

    run_id: str
    started: dt.datetime
    finished: dt.datetime
    states: dict[str, str]
    pushed_version: str | None = None

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
        ))
    return records


def _pushed_version(components: list[ComponentRun]) -> str | None:
    """The serving version a run published, if its Pusher published one."""
    for component in components:
        for pushed in component.outputs.get("pushed_model", []):
            if property_value(pushed, "pushed") == 1:
                return str(property_value(pushed, "pushed_version"))
    return None


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


# --- lineage graph ----------------------------------------------------------------------------

# The Evaluator's baseline is an earlier run's model: its own history is not this model's.
STOP_KEYS = ("baseline_model",)
# Outputs that are not ancestors of a pushed model but belong in its story.
EXTRA_OUTPUT_KEYS = ("evaluation",)


@dataclass(frozen=True)
class Edge:
    """An execution read (is_input) or wrote an artifact under a key such as 'examples'."""

    execution_id: int
    artifact_id: int
    key: str
    is_input: bool


@dataclass
class LineageGraph:
    """Executions and artifacts upstream of some artifacts, linked by their input/output keys."""

    executions: dict[int, Execution] = field(default_factory=dict)
    artifacts: dict[int, Artifact] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    node_ids: dict[int, str] = field(default_factory=dict)
    type_names: dict[int, str] = field(default_factory=dict)

    def producer(self, artifact_id: int) -> Execution | None:
        """The execution that wrote the artifact, if it is in the graph."""
        return next((self.executions[e.execution_id] for e in self.edges
                     if e.artifact_id == artifact_id and not e.is_input), None)

    def output(self, key: str) -> Artifact | None:
        """The artifact some execution in the graph wrote under `key` ('model', 'schema', ...)."""
        return next((self.artifacts[e.artifact_id] for e in self.edges
                     if e.key == key and not e.is_input), None)

    def input(self, execution_id: int, key: str) -> Artifact | None:
        """The artifact an execution read under `key`."""
        return next((self.artifacts[e.artifact_id] for e in self.edges if e.is_input
                     and e.execution_id == execution_id and e.key == key), None)


def _event_key(event: metadata_store_pb2.Event) -> str:
    return event.path.steps[0].key if event.path.steps else ""


def _producers(
    store: Store, artifact_ids: Iterable[int]
) -> list[Execution]:
    """The executions that first wrote each artifact (not the CACHED ones that re-used it)."""
    events = [e for e in store.get_events_by_artifact_ids(list(artifact_ids)) if e.type in _OUTPUTS]
    executions = store.get_executions_by_id(list({e.execution_id for e in events}))
    cached = metadata_store_pb2.Execution.CACHED
    by_id = {e.id: e for e in executions}
    first: dict[int, Execution] = {}
    for event in sorted(events, key=lambda e: (by_id[e.execution_id].last_known_state == cached,
                                               e.execution_id)):
        first.setdefault(event.artifact_id, by_id[event.execution_id])
    return list({e.id: e for e in first.values()}.values())


def _add_artifacts(store: Store, graph: LineageGraph, ids: set[int]) -> None:
    """Fetch artifacts (and their type names) not yet in the graph."""
    new = [a for a in store.get_artifacts_by_id(list(ids - graph.artifacts.keys()))]
    types = {t.id: t.name for t in store.get_artifact_types_by_id(list({a.type_id for a in new}))}
    for artifact in new:
        graph.artifacts[artifact.id] = artifact
        graph.type_names[artifact.id] = types[artifact.type_id]


def _add_execution(
    store: Store, graph: LineageGraph, execution: Execution
) -> set[int]:
    """Record an execution and its edges; return the input artifacts still to trace."""
    graph.executions[execution.id] = execution
    graph.node_ids[execution.id] = _node_id(store, execution)
    to_trace, leaves = set(), set()
    for event in store.get_events_by_execution_ids([execution.id]):
        key, is_input = _event_key(event), event.type in _INPUTS
        if is_input or event.type in _OUTPUTS:
            graph.edges.append(Edge(execution.id, event.artifact_id, key, is_input))
        if is_input:
            (leaves if key in STOP_KEYS else to_trace).add(event.artifact_id)
        elif event.type in _OUTPUTS and key in EXTRA_OUTPUT_KEYS:
            leaves.add(event.artifact_id)
    _add_artifacts(store, graph, leaves)
    return to_trace


def upstream_graph(store: Store, artifact_ids: Iterable[int]) -> LineageGraph:
    """Everything that led to the artifacts: their producers, those producers' inputs, and so on."""
    graph = LineageGraph()
    pending = set(artifact_ids)
    while pending:
        _add_artifacts(store, graph, pending)
        traced: set[int] = set()
        for execution in _producers(store, pending):
            if execution.id not in graph.executions:
                traced |= _add_execution(store, graph, execution)
        pending = traced - graph.artifacts.keys()
    graph.edges = [e for e in graph.edges if e.artifact_id in graph.artifacts]
    return graph


def run_of(store: Store, execution_id: int) -> str | None:
    """The id of the run an execution belongs to."""
    run_type = store.get_context_type(RUN_CONTEXT)
    return next((c.name for c in store.get_contexts_by_execution(execution_id)
                 if c.type_id == run_type.id), None)


# --- provenance of a model --------------------------------------------------------------------

MetricsReader = Callable[[str], dict[str, float]]


@dataclass(frozen=True)
class DataFacts:
    """The input data: where ExampleGen read it and the fingerprint of the files it saw."""

    examples_uri: str
    input_base: str | None
    span: int | None
    version: int | None
    input_fingerprint: str | None
    splits: list[str]
    window_spans: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ValidationFacts:
    """The schema the data was checked against, its statistics and ExampleValidator's verdict."""

    schema_uri: str | None
    schema_source: str | None
    statistics_uri: str | None
    anomalies_uri: str | None
    anomalies_free: dict[str, bool]


@dataclass(frozen=True)
class TrainingFacts:
    """The code and configuration the Trainer and Transform ran with."""

    model_uri: str
    trainer_run: str | None
    train_steps: int | None
    eval_steps: int | None
    hyperparameters: dict[str, object]
    code_fingerprint: str | None
    run_fn: str | None
    preprocessing_fn: str | None
    transform_graph_uri: str | None
    transformed_examples_uri: str | None


@dataclass(frozen=True)
class EvaluationFacts:
    """What the Evaluator measured, whether it blessed the model, and against which baseline."""

    evaluation_uri: str | None
    blessed: bool | None
    metrics: dict[str, float]
    baseline_model_uri: str | None
    baseline_versions: list[str]


@dataclass(frozen=True)
class PushFacts:
    """What the Pusher did with the model."""

    pushed: bool
    version: str | None
    destination: str | None
    decision: str | None
    model_fingerprint: str | None
    at: dt.datetime


@dataclass(frozen=True)
class Provenance:
    """Which data, code, config and metrics produced a model; parts are None when not reached."""

    run_id: str | None
    push: PushFacts | None
    data: DataFacts | None
    validation: ValidationFacts | None
    training: TrainingFacts | None
    evaluation: EvaluationFacts | None


def _examples_written(graph: LineageGraph) -> list[Artifact]:
    """Every ExampleGen output in the graph: one per span of a multi-span window."""
    return [graph.artifacts[e.artifact_id] for e in graph.edges
            if e.key == "examples" and not e.is_input]


def _data_facts(graph: LineageGraph) -> DataFacts | None:
    written = _examples_written(graph)
    if not written:
        return None
    # A window's newest span: the one the Evaluator judged the model on.
    examples = max(written, key=lambda a: (property_value(a, "span") or 0, a.id))
    producer = graph.producer(examples.id)
    return DataFacts(
        examples_uri=examples.uri,
        input_base=property_value(producer, "input_base"),
        span=property_value(examples, "span"),
        version=property_value(examples, "version"),
        input_fingerprint=property_value(examples, "input_fingerprint")
        or property_value(producer, "input_fingerprint"),
        splits=json_property(examples, "split_names") or [],
        window_spans=sorted({s for s in (property_value(a, "span") for a in written)
                             if s is not None}),
    )


def _validation_facts(graph: LineageGraph) -> ValidationFacts | None:
    schema, statistics = graph.output("schema"), graph.output("statistics")
    anomalies = graph.output("anomalies")
    if schema is None and statistics is None:
        return None
    verdict = property_value(anomalies, "blessed") if anomalies else None
    return ValidationFacts(
        schema_uri=schema.uri if schema else None,
        schema_source=graph.node_ids[graph.producer(schema.id).id] if schema else None,
        statistics_uri=statistics.uri if statistics else None,
        anomalies_uri=anomalies.uri if anomalies else None,
        anomalies_free={split: bool(verdict[split]) for split in sorted(verdict or {})},
    )


def _training_facts(store: Store, graph: LineageGraph) -> TrainingFacts | None:
    model = graph.output("model")
    if model is None:
        return None
    trainer = graph.producer(model.id)
    transform_graph = graph.input(trainer.id, "transform_graph")
    transform = graph.producer(transform_graph.id) if transform_graph else None
    custom = json_property(trainer, "custom_config") or {}
    transformed = graph.input(trainer.id, "examples")
    return TrainingFacts(
        model_uri=model.uri,
        trainer_run=run_of(store, trainer.id),
        train_steps=(json_property(trainer, "train_args") or {}).get("num_steps"),
        eval_steps=(json_property(trainer, "eval_args") or {}).get("num_steps"),
        hyperparameters=custom.get("hyperparameters", {}),
        code_fingerprint=custom.get("code_fingerprint"),
        run_fn=property_value(trainer, "run_fn"),
        preprocessing_fn=property_value(transform, "preprocessing_fn") if transform else None,
        transform_graph_uri=transform_graph.uri if transform_graph else None,
        transformed_examples_uri=transformed.uri if transformed else None,
    )


def _evaluation_facts(
    store: Store, graph: LineageGraph, read_metrics: MetricsReader
) -> EvaluationFacts | None:
    blessing, evaluation = graph.output("blessing"), graph.output("evaluation")
    if blessing is None and evaluation is None:
        return None
    evaluator = graph.producer((blessing or evaluation).id)
    baseline = graph.input(evaluator.id, "baseline_model")
    return EvaluationFacts(
        evaluation_uri=evaluation.uri if evaluation else None,
        blessed=property_value(blessing, "blessed") == 1 if blessing else None,
        metrics=read_metrics(evaluation.uri) if evaluation else {},
        baseline_model_uri=baseline.uri if baseline else None,
        baseline_versions=pushed_versions(store, baseline.id) if baseline else [],
    )


def _push_facts(graph: LineageGraph) -> PushFacts | None:
    pushed = graph.output("pushed_model")
    if pushed is None:
        return None
    version = property_value(pushed, "pushed_version")
    return PushFacts(
        pushed=property_value(pushed, "pushed") == 1,
        version=str(version) if version is not None else None,
        destination=property_value(pushed, "pushed_destination"),
        decision=property_value(pushed, "push_decision"),
        model_fingerprint=property_value(pushed, "model_fingerprint"),
        at=_time(graph.producer(pushed.id).last_update_time_since_epoch),
    )


def overall_metrics_reader(evaluation_uri: str) -> dict[str, float]:
    """TFMA's overall-slice metrics; TFMA is imported only when metrics are asked for."""
    from pipeline.summary import overall_metrics

    return overall_metrics(evaluation_uri)


def provenance(
    store: Store,
    graph: LineageGraph,
    run_id: str | None,
    read_metrics: MetricsReader = overall_metrics_reader,
) -> Provenance:
    """Read the facts of each stage out of a lineage graph."""
    return Provenance(
        run_id=run_id,
        push=_push_facts(graph),
        data=_data_facts(graph),
        validation=_validation_facts(graph),
        training=_training_facts(store, graph),
        evaluation=_evaluation_facts(store, graph, read_metrics),
    )


# --- pushed versions and runs -----------------------------------------------------------------


def _pipeline_artifacts(
    store: Store, pipeline_name: str, type_name: str
) -> list[Artifact]:
    """Artifacts of one type attributed to the pipeline, oldest first."""
    pipeline = store.get_context_by_type_and_name(PIPELINE_CONTEXT, pipeline_name)
    if pipeline is None:
        return []
    return sorted((a for a in store.get_artifacts_by_context(pipeline.id)
                   if a.type_id == _artifact_type_id(store, type_name)), key=lambda a: a.id)


def _artifact_type_id(store: Store, type_name: str) -> int | None:
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
                 if e.type in _INPUTS and _event_key(e) == "model"]
    events = store.get_events_by_execution_ids(consumers)
    outputs = [e.artifact_id for e in events
               if e.type in _OUTPUTS and _event_key(e) == "pushed_model"]
    return [str(property_value(a, "pushed_version")) for a in store.get_artifacts_by_id(outputs)
            if property_value(a, "pushed") == 1]


def version_graph(store: Store, pushed: Artifact) -> LineageGraph:
    """The lineage of one PushedModel artifact."""
    return upstream_graph(store, [pushed.id])


def version_provenance(
    store: Store,
    pipeline_name: str,
    version: str | None = None,
    read_metrics: MetricsReader = overall_metrics_reader,
) -> Provenance:
    """Which data, code, config and metrics produced a serving version (the latest when None)."""
    pushed = pushed_model(store, pipeline_name, version)
    graph = version_graph(store, pushed)
    return provenance(store, graph, run_of(store, graph.producer(pushed.id).id), read_metrics)


def previous_version(
    store: Store, pipeline_name: str, version: str
) -> str | None:
    """The serving version pushed just before `version`, if any."""
    pushed = pushed_models(store, pipeline_name)
    versions = [str(property_value(a, "pushed_version")) for a in pushed]
    index = versions.index(str(version))
    return versions[index - 1] if index > 0 else None


def run_graph(store: Store, run_id: str) -> LineageGraph:
    """The lineage of everything a run produced or re-used from cache."""
    outputs = {a.id for c in component_runs(store, run_id) for arts in c.outputs.values()
               for a in arts}
    return upstream_graph(store, outputs)


def run_provenance(
    store: Store,
    run_id: str,
    read_metrics: MetricsReader = overall_metrics_reader,
) -> Provenance:
    """The provenance facts of a run, whether or not it pushed a model."""
    return provenance(store, run_graph(store, run_id), run_id, read_metrics)


# --- forward lineage and comparisons ----------------------------------------------------------


@dataclass(frozen=True)
class ModelUse:
    """A model trained (directly or through Transform) on some examples, and where it went."""

    model_id: int
    model_uri: str
    run_id: str | None
    pushed_versions: list[str]

    @property
    def pushed(self) -> bool:
        """Whether any Pusher published this model."""
        return bool(self.pushed_versions)


def models_trained_on(store: Store, examples_id: int) -> list[ModelUse]:
    """Every Model downstream of an Examples artifact, skipping baseline comparisons."""
    model_type = _artifact_type_id(store, "Model")
    seen, pending, models = {examples_id}, {examples_id}, []
    while pending:
        events = [e for e in store.get_events_by_artifact_ids(list(pending))
                  if e.type in _INPUTS and _event_key(e) not in STOP_KEYS]
        consumers = list({e.execution_id for e in events})
        outputs = [e for e in store.get_events_by_execution_ids(consumers)
                   if e.type in _OUTPUTS and e.artifact_id not in seen]
        seen |= {e.artifact_id for e in outputs}
        artifacts = store.get_artifacts_by_id(list({e.artifact_id for e in outputs}))
        models += [a for a in artifacts if a.type_id == model_type]
        pending = {a.id for a in artifacts if a.type_id != model_type}
    return [_model_use(store, model) for model in sorted(models, key=lambda a: a.id)]


def _model_use(store: Store, model: Artifact) -> ModelUse:
    trainer = _producers(store, [model.id])
    run_id = run_of(store, trainer[0].id) if trainer else None
    return ModelUse(model.id, model.uri, run_id, pushed_versions(store, model.id))


def flatten(facts: object, prefix: str = "") -> dict[str, object]:
    """Nested facts as 'section.field' keys, for diffs and JSON."""
    items = dataclasses.asdict(facts) if dataclasses.is_dataclass(facts) else facts
    flat: dict[str, object] = {}
    for key, value in items.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in ("anomalies_free",):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def changes(
    before: Provenance, after: Provenance, skip: Iterable[str] = ()
) -> list[tuple[str, object, object]]:
    """(field, before, after) for every fact that differs between two provenances."""
    old, new = flatten(before), flatten(after)
    skipped = tuple(skip)
    return [(key, old.get(key), new.get(key)) for key in sorted(old.keys() | new.keys())
            if old.get(key) != new.get(key) and not key.startswith(skipped)]
