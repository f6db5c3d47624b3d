"""The lineage graph: executions and artifacts upstream (or downstream) of an artifact."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ml_metadata.proto import metadata_store_pb2

from pipeline.metadata.connection import Artifact, Execution, LineageError, Store
from pipeline.metadata.pushes import artifact_type_id, pushed_versions
from pipeline.metadata.records import (
    INPUT_EVENTS,
    OUTPUT_EVENTS,
    component_runs,
    event_key,
    node_id_of,
    run_of,
)
from pipeline.vocabulary import BASELINE_MODEL_KEY, EVALUATION_KEY

# The Evaluator's baseline is an earlier run's model: its own history is not this model's.
STOP_KEYS = (BASELINE_MODEL_KEY,)


# Outputs that are not ancestors of a pushed model but belong in its story.
EXTRA_OUTPUT_KEYS = (EVALUATION_KEY,)


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

    def produced_by(self, artifact_id: int) -> Execution:
        """The execution that wrote an artifact the graph holds as some execution's output."""
        execution = self.producer(artifact_id)
        if execution is None:
            raise LineageError(f"artifact {artifact_id} has no producing execution in the lineage graph")
        return execution

    def output(self, key: str) -> Artifact | None:
        """The artifact some execution in the graph wrote under `key` ('model', 'schema', ...)."""
        return next((self.artifacts[e.artifact_id] for e in self.edges
                     if e.key == key and not e.is_input), None)

    def input(self, execution_id: int, key: str) -> Artifact | None:
        """The artifact an execution read under `key`."""
        return next((self.artifacts[e.artifact_id] for e in self.edges if e.is_input
                     and e.execution_id == execution_id and e.key == key), None)


def producers(
    store: Store, artifact_ids: Iterable[int]
) -> list[Execution]:
    """The executions that first wrote each artifact (not the CACHED ones that re-used it)."""
    events = [e for e in store.get_events_by_artifact_ids(list(artifact_ids)) if e.type in OUTPUT_EVENTS]
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
    graph.node_ids[execution.id] = node_id_of(store, execution)
    to_trace: set[int] = set()
    leaves: set[int] = set()
    for event in store.get_events_by_execution_ids([execution.id]):
        key, is_input = event_key(event), event.type in INPUT_EVENTS
        if is_input or event.type in OUTPUT_EVENTS:
            graph.edges.append(Edge(execution.id, event.artifact_id, key, is_input))
        if is_input:
            (leaves if key in STOP_KEYS else to_trace).add(event.artifact_id)
        elif event.type in OUTPUT_EVENTS and key in EXTRA_OUTPUT_KEYS:
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
        for execution in producers(store, pending):
            if execution.id not in graph.executions:
                traced |= _add_execution(store, graph, execution)
        pending = traced - graph.artifacts.keys()
    graph.edges = [e for e in graph.edges if e.artifact_id in graph.artifacts]
    return graph


def version_graph(store: Store, pushed: Artifact) -> LineageGraph:
    """The lineage of one PushedModel artifact."""
    return upstream_graph(store, [pushed.id])


def run_graph(store: Store, run_id: str) -> LineageGraph:
    """The lineage of everything a run produced or re-used from cache."""
    outputs = {a.id for c in component_runs(store, run_id) for arts in c.outputs.values()
               for a in arts}
    return upstream_graph(store, outputs)


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
    model_type = artifact_type_id(store, "Model")
    seen, pending, models = {examples_id}, {examples_id}, []
    while pending:
        events = [e for e in store.get_events_by_artifact_ids(list(pending))
                  if e.type in INPUT_EVENTS and event_key(e) not in STOP_KEYS]
        consumers = list({e.execution_id for e in events})
        outputs = [e for e in store.get_events_by_execution_ids(consumers)
                   if e.type in OUTPUT_EVENTS and e.artifact_id not in seen]
        seen |= {e.artifact_id for e in outputs}
        artifacts = store.get_artifacts_by_id(list({e.artifact_id for e in outputs}))
        models += [a for a in artifacts if a.type_id == model_type]
        pending = {a.id for a in artifacts if a.type_id != model_type}
    return [_model_use(store, model) for model in sorted(models, key=lambda a: a.id)]


def _model_use(store: Store, model: Artifact) -> ModelUse:
    trainer = producers(store, [model.id])
    run_id = run_of(store, trainer[0].id) if trainer else None
    return ModelUse(model.id, model.uri, run_id, pushed_versions(store, model.id))
