"""A model's provenance: which data, schema, code, config and metrics produced it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from pipeline.metadata.connection import Artifact, Execution, Store
from pipeline.metadata.evaluation_results import overall_metrics
from pipeline.metadata.lineage_graph import LineageGraph, run_graph, version_graph
from pipeline.metadata.pushes import pushed_model, pushed_versions, recorded_run_context
from pipeline.metadata.records import (
    int_property,
    json_property,
    property_value,
    run_of,
    string_property,
    timestamp,
)
from pipeline.metadata.summary import recorded_evaluation
from pipeline.vocabulary import (
    ANOMALIES_KEY,
    BASELINE_MODEL_KEY,
    BLESSING_KEY,
    DECISION_THRESHOLD_PROPERTY,
    EVALUATION_KEY,
    EXAMPLES_KEY,
    MODEL_KEY,
    PUSHED_MODEL_KEY,
    SCHEMA_KEY,
    STATISTICS_KEY,
    TRANSFORM_GRAPH_KEY,
    DecisionThreshold,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

MetricsReader = Callable[[str], dict[str, float]]


@dataclass(frozen=True)
class DataProvenance:
    """The input data: where ExampleGen read it and the fingerprint of the files it saw."""

    examples_uri: str
    input_base: str | None
    span: int | None
    version: int | None
    input_fingerprint: str | None
    splits: list[str]
    window_spans: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ValidationProvenance:
    """The schema the data was checked against, its statistics and ExampleValidator's verdict."""

    schema_uri: str | None
    schema_source: str | None
    statistics_uri: str | None
    anomalies_uri: str | None
    anomalies_free: dict[str, bool]


@dataclass(frozen=True)
class TrainingProvenance:
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
    # The Trainer's cache key: its run_fn's import closure only (not the project's code_fingerprint).
    model_code_fingerprint: str | None = None
    # A binary model's class cut as the Trainer recorded it (None: not binary, or none recorded).
    decision_threshold: DecisionThreshold | None = None


@dataclass(frozen=True)
class EvaluationProvenance:
    """What the Evaluator measured, whether it blessed the model, and against which baseline."""

    evaluation_uri: str | None
    blessed: bool | None
    metrics: dict[str, float]
    baseline_model_uri: str | None
    baseline_versions: list[str]


@dataclass(frozen=True)
class PushProvenance:
    """What the Pusher did with the model."""

    pushed: bool
    version: str | None
    destination: str | None
    decision: str | None
    model_fingerprint: str | None
    at: dt.datetime


@dataclass(frozen=True)
class ModelProvenance:
    """Which data, code, config and metrics produced a model; parts are None when not reached."""

    run_id: str | None
    push: PushProvenance | None
    data: DataProvenance | None
    validation: ValidationProvenance | None
    training: TrainingProvenance | None
    evaluation: EvaluationProvenance | None
    # The flags and declaration the run recorded, lists of named items keyed by their names.
    config: dict[str, object] = field(default_factory=dict)


def _examples_written(graph: LineageGraph) -> list[Artifact]:
    """Every ExampleGen output in the graph: one per span of a multi-span window."""
    return [graph.artifacts[e.artifact_id] for e in graph.edges
            if e.key == EXAMPLES_KEY and not e.is_input]


def _data_provenance(graph: LineageGraph) -> DataProvenance | None:
    written = _examples_written(graph)
    if not written:
        return None
    # A window's newest span: the one the Evaluator judged the model on.
    examples = max(written, key=lambda a: (int_property(a, "span") or 0, a.id))
    producer = graph.produced_by(examples.id)
    return DataProvenance(
        examples_uri=examples.uri,
        input_base=string_property(producer, "input_base"),
        span=int_property(examples, "span"),
        version=int_property(examples, "version"),
        input_fingerprint=string_property(examples, "input_fingerprint")
        or string_property(producer, "input_fingerprint"),
        splits=cast("list[str] | None", json_property(examples, "split_names")) or [],
        window_spans=sorted({s for s in (int_property(a, "span") for a in written)
                             if s is not None}),
    )


def _validation_provenance(graph: LineageGraph) -> ValidationProvenance | None:
    schema, statistics = graph.output(SCHEMA_KEY), graph.output(STATISTICS_KEY)
    anomalies = graph.output(ANOMALIES_KEY)
    if schema is None and statistics is None:
        return None
    # ExampleValidator records its verdict as a struct: {split: blessed}.
    verdict = cast("Mapping[str, object]",
                   (property_value(anomalies, "blessed") if anomalies else None) or {})
    return ValidationProvenance(
        schema_uri=schema.uri if schema else None,
        schema_source=graph.node_ids[graph.produced_by(schema.id).id] if schema else None,
        statistics_uri=statistics.uri if statistics else None,
        anomalies_uri=anomalies.uri if anomalies else None,
        anomalies_free={split: bool(verdict[split]) for split in sorted(verdict)},
    )


def _training_provenance(store: Store, graph: LineageGraph,
                         context: Mapping[str, object]) -> TrainingProvenance | None:
    model = graph.output(MODEL_KEY)
    if model is None:
        return None
    trainer = graph.produced_by(model.id)
    transform_graph = graph.input(trainer.id, TRANSFORM_GRAPH_KEY)
    transform = graph.producer(transform_graph.id) if transform_graph else None
    custom = cast("dict[str, Any]", json_property(trainer, "custom_config") or {})
    transformed = graph.input(trainer.id, EXAMPLES_KEY)
    trainer_run = run_of(store, trainer.id)
    return TrainingProvenance(
        model_uri=model.uri,
        trainer_run=trainer_run,
        train_steps=cast("dict[str, Any]", json_property(trainer, "train_args") or {}).get("num_steps"),
        eval_steps=cast("dict[str, Any]", json_property(trainer, "eval_args") or {}).get("num_steps"),
        hyperparameters=custom.get("hyperparameters", {}),
        code_fingerprint=cast("str | None", context.get("code_fingerprint")),
        model_code_fingerprint=custom.get("code_fingerprint"),
        run_fn=string_property(trainer, "run_fn"),
        preprocessing_fn=string_property(transform, "preprocessing_fn") if transform else None,
        transform_graph_uri=transform_graph.uri if transform_graph else None,
        transformed_examples_uri=transformed.uri if transformed else None,
        decision_threshold=DecisionThreshold.from_json(
            string_property(model, DECISION_THRESHOLD_PROPERTY) or ""),
    )


# The blessing's custom property saying why the Evaluator compared with no baseline
# (pipeline.graph.evaluator: the baseline resolved was the candidate model itself).
BASELINE_SKIPPED = "baseline_skipped"


def _evaluation_provenance(
    store: Store, graph: LineageGraph, read_metrics: MetricsReader | None
) -> EvaluationProvenance | None:
    blessing, evaluation = graph.output(BLESSING_KEY), graph.output(EVALUATION_KEY)
    judged = blessing or evaluation
    if judged is None:
        return None
    evaluator = graph.produced_by(judged.id)
    baseline = graph.input(evaluator.id, BASELINE_MODEL_KEY)
    if blessing is not None and property_value(blessing, BASELINE_SKIPPED):
        baseline = None
    return EvaluationProvenance(
        evaluation_uri=evaluation.uri if evaluation else None,
        blessed=property_value(blessing, "blessed") == 1 if blessing else None,
        metrics=_metrics(store, evaluator, evaluation.uri, read_metrics) if evaluation else {},
        baseline_model_uri=baseline.uri if baseline else None,
        baseline_versions=pushed_versions(store, baseline.id) if baseline else [],
    )


def _push_provenance(graph: LineageGraph) -> PushProvenance | None:
    pushed = graph.output(PUSHED_MODEL_KEY)
    if pushed is None:
        return None
    version = property_value(pushed, "pushed_version")
    return PushProvenance(
        pushed=property_value(pushed, "pushed") == 1,
        version=str(version) if version is not None else None,
        destination=string_property(pushed, "pushed_destination"),
        decision=string_property(pushed, "push_decision"),
        model_fingerprint=string_property(pushed, "model_fingerprint"),
        at=timestamp(graph.produced_by(pushed.id).last_update_time_since_epoch),
    )


def _metrics(
    store: Store, evaluator: Execution, evaluation_uri: str, read_metrics: MetricsReader | None
) -> dict[str, float]:
    """The reader's metrics; by default those the Evaluator's run recorded on its MLMD context,
    and TFMA's (about 30 s of importing TensorFlow) only for runs that recorded none."""
    if read_metrics is not None:
        return read_metrics(evaluation_uri)

    evaluation = recorded_evaluation(store, run_of(store, evaluator.id))
    if evaluation is not None:
        return {name: float(value) for name, value in evaluation["metrics"].items()}
    return overall_metrics_reader(evaluation_uri)


def overall_metrics_reader(evaluation_uri: str) -> dict[str, float]:
    """TFMA's overall-slice metrics; TFMA is imported only when metrics are asked for."""
    return overall_metrics(evaluation_uri)


def provenance(
    store: Store,
    graph: LineageGraph,
    run_id: str | None,
    read_metrics: MetricsReader | None = None,
) -> ModelProvenance:
    """Read the provenance of each stage out of a lineage graph; the code fingerprint and the
    config are those the run (`run_id`, the one that pushed) recorded, as `versions` shows them."""
    context = recorded_run_context(store, run_id) if run_id else {}
    return ModelProvenance(
        run_id=run_id,
        push=_push_provenance(graph),
        data=_data_provenance(graph),
        validation=_validation_provenance(graph),
        training=_training_provenance(store, graph, context),
        evaluation=_evaluation_provenance(store, graph, read_metrics),
        config=config_facts(context.get("config")),
    )


def _keyed(value: object) -> object:
    """Lists of named items (features, thresholds) as mappings by name, so a diff names the item
    that changed; everything else as it is."""
    if isinstance(value, dict):
        return {k: _keyed(v) for k, v in value.items()}
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for key in ("name", "metric"):
            names = [v.get(key) for v in value]
            if all(isinstance(n, str) for n in names) and len(set(names)) == len(names):
                return {str(v[key]): _keyed({k: x for k, x in v.items() if k != key})
                        for v in value}
    return value


def config_facts(recorded: object) -> dict[str, object]:
    """A run's recorded config (JSON text or a mapping) as nested facts; {} when it has none."""
    if isinstance(recorded, str):
        try:
            recorded = json.loads(recorded)
        except ValueError:
            return {}
    return cast("dict[str, object]", _keyed(recorded)) if isinstance(recorded, dict) else {}


def version_provenance(
    store: Store,
    pipeline_name: str,
    version: str | None = None,
    read_metrics: MetricsReader | None = None,
) -> ModelProvenance:
    """Which data, code, config and metrics produced a serving version (the latest when None)."""
    pushed = pushed_model(store, pipeline_name, version)
    graph = version_graph(store, pushed)
    return provenance(store, graph, run_of(store, graph.produced_by(pushed.id).id), read_metrics)


def run_provenance(
    store: Store,
    run_id: str,
    read_metrics: MetricsReader | None = None,
) -> ModelProvenance:
    """The provenance of a run, whether or not it pushed a model."""
    return provenance(store, run_graph(store, run_id), run_id, read_metrics)


def flatten(provenance: DataclassInstance | Mapping[str, object], prefix: str = "") -> dict[str, object]:
    """Nested provenance as 'section.field' keys, for diffs and JSON."""
    items = provenance if isinstance(provenance, Mapping) else dataclasses.asdict(provenance)
    flat: dict[str, object] = {}
    for key, value in items.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in ("anomalies_free",):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def changes(
    before: ModelProvenance, after: ModelProvenance, skip: Iterable[str] = ()
) -> list[tuple[str, object, object]]:
    """(field, before, after) for every fact that differs between two provenances."""
    old, new = flatten(before), flatten(after)
    skipped = tuple(skip)
    return [(key, old.get(key), new.get(key)) for key in sorted(old.keys() | new.keys())
            if not same_value(old.get(key), new.get(key)) and not key.startswith(skipped)]


def same_value(a: object, b: object) -> bool:
    """Equality for facts, where a NaN metric equals a NaN metric (float('nan') != itself)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return bool(a == b)
