"""SpanValidator: a span's statistics against the schema, and its declared features against the
previous span (drift, calibrated as `monitor` calibrates: pipeline.data.summaries.span_drift)."""


import json
import os
from dataclasses import asdict

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.components.common import resolver
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.artifact import Artifact
from tfx.types.channel import Channel
from tfx.utils import io_utils

from pipeline import vocabulary
from pipeline.config.project import DriftThresholds, Project
from pipeline.data import drift, summaries, validation
from pipeline.vocabulary import (
    DRIFT_CHECKS_PROPERTY,
    DRIFT_PROPERTY,
    EXAMPLES_KEY,
    PREVIOUS_STATISTICS_RESOLVER,
    SPAN_PROPERTY,
    STATISTICS_KEY,
    split_folder,
)


def statistics_examples(
    store: metadata_store.MetadataStore, artifact_id: int
) -> metadata_store_pb2.Artifact | None:
    """The Examples (with a span) a StatisticsGen output was computed from.

    None for statistics other components wrote (Transform's pre/post-transform statistics).
    """
    producers = [
        e.execution_id for e in store.get_events_by_artifact_ids([artifact_id])
        if e.type == metadata_store_pb2.Event.OUTPUT
        and [step.key for step in e.path.steps[:1]] == [STATISTICS_KEY]
    ]
    inputs = [
        e.artifact_id for e in store.get_events_by_execution_ids(producers)
        if e.type == metadata_store_pb2.Event.INPUT
    ]
    return next((a for a in store.get_artifacts_by_id(inputs) if SPAN_PROPERTY in a.custom_properties),
                None)


class PreviousSpanStatisticsStrategy(resolver.ResolverStrategy):
    """The newest statistics of the latest span before `span`, and the examples they were computed
    from: the drift baseline of this run."""

    def __init__(self, span: int):
        self._span = span

    def resolve_artifacts(
        self, store: metadata_store.MetadataStore, input_dict: dict[str, list[Artifact]]
    ) -> dict[str, list[Artifact]]:
        """Empty on the first span: the validator then checks the schema only."""
        sources = {a.id: found for a in input_dict[STATISTICS_KEY]
                   if (found := statistics_examples(store, a.id)) is not None}
        spans = {key: examples.custom_properties[SPAN_PROPERTY].int_value
                 for key, examples in sources.items()}
        earlier = [a for a in input_dict[STATISTICS_KEY] if spans.get(a.id, self._span) < self._span]
        earlier.sort(key=lambda a: (spans[a.id], a.id))
        baseline = earlier[-1:]
        source = {sources[a.id].id for a in baseline}
        return {STATISTICS_KEY: baseline,
                EXAMPLES_KEY: [a for a in input_dict.get(EXAMPLES_KEY, []) if a.id in source]}


def previous_span_statistics(span: int) -> resolver.Resolver:
    """Resolver node giving the drift baseline for `span` (statistics and examples), from every
    earlier run's."""
    return resolver.Resolver(
        strategy_class=PreviousSpanStatisticsStrategy,
        config={"span": span},
        statistics=Channel(type=standard_artifacts.ExampleStatistics),
        examples=Channel(type=standard_artifacts.Examples),
    ).with_id(PREVIOUS_STATISTICS_RESOLVER)


def drift_calibration(project: Project) -> str:
    """What the validator reads of the declaration: each feature's kind and the declared
    calibration (so other edits leave its cache key alone)."""
    return json.dumps({"features": {name: kind.value for name, kind in
                                    summaries.feature_kinds(project).items()},
                       "thresholds": asdict(project.drift_thresholds)}, sort_keys=True)


def span_drift_records(
    examples: Artifact, previous_examples: Artifact, calibration: str,
) -> tuple[list[dict], list[dict]]:
    """Every declared feature of the span against the previous span's, on every split of each:
    the drifted ones and every comparison (what was left unmonitored and why, too)."""
    declared = json.loads(calibration)
    kinds = {name: drift.Kind(kind) for name, kind in declared["features"].items()}
    checks, unmonitored = summaries.span_drift(
        _columns(previous_examples, list(kinds)), _columns(examples, list(kinds)), kinds,
        DriftThresholds(**declared["thresholds"]))
    where = {"split": "+".join(artifact_utils.decode_split_names(examples.split_names)),
             "span": _span(examples), "baseline_span": _span(previous_examples)}
    compared = [{**check.record(), **where} for check in checks]
    skipped = [{"feature": name, "unmonitored": why, **where} for name, why in unmonitored.items()]
    return [c for c in compared if c["crossed"]], compared + skipped


def _span(examples: Artifact) -> int | None:
    """The span ExampleGen recorded on its output (a custom property, not Examples' `span`)."""
    return examples.get_int_custom_property(SPAN_PROPERTY) \
        if examples.has_custom_property(SPAN_PROPERTY) else None


def _columns(examples: Artifact, names: list[str]) -> dict[str, dict[str, summaries.Column]]:
    """The values of `names` in each split of an Examples artifact."""
    return {split: summaries.example_columns([examples.uri], split, names)
            for split in artifact_utils.decode_split_names(examples.split_names)}


@component
def SpanValidator(  # TFX names components like classes
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    schema: InputArtifact[standard_artifacts.Schema],
    examples: InputArtifact[standard_artifacts.Examples],
    anomalies: OutputArtifact[standard_artifacts.ExampleAnomalies],
    calibration: Parameter[str],
    previous_statistics: InputArtifact[
        standard_artifacts.ExampleStatistics
    ] = None,
    previous_examples: InputArtifact[standard_artifacts.Examples] = None,
    span: Parameter[int] = None,
) -> None:
    """ExampleValidator, the schema's drift comparators against the previous span, and every
    declared feature's calibrated distance to the previous span (`calibration`:
    drift_calibration).

    `span` is set in a multi-span window, so the DataGate can name the span of each problem.
    """
    schema_proto = validation.read_schema(schema.uri)
    splits = artifact_utils.decode_split_names(statistics.split_names)
    anomalies.split_names = artifact_utils.encode_split_names(splits)
    baseline_splits = (
        set(artifact_utils.decode_split_names(previous_statistics.split_names))
        if previous_statistics is not None else set()
    )
    verdicts, drifted = {}, []
    for split in splits:
        current = validation.read_statistics(statistics.uri, split)
        previous = (
            validation.read_statistics(previous_statistics.uri, split)
            if split in baseline_splits else None
        )
        result = validation.validate(current, schema_proto, validation.TRAINING, previous=previous)
        output = os.path.join(anomalies.uri, split_folder(split))
        fileio.makedirs(output)
        io_utils.write_bytes_file(os.path.join(output, vocabulary.ANOMALIES_FILE),
                                  result.SerializeToString())
        found = bool(result.anomaly_info) or result.HasField("dataset_anomaly_info")
        verdicts[split] = 0 if found else 1
        drifted += [asdict(d) for d in validation.drift_measurements(result, split)]
    checks: list[dict] = []
    if previous_examples is not None:
        calibrated, checks = span_drift_records(examples, previous_examples, calibration)
        drifted += calibrated
    anomalies.set_json_value_custom_property(DRIFT_CHECKS_PROPERTY, checks)
    # The same per-split verdict TFX's ExampleValidator records (1 = no anomalies).
    anomalies.set_json_value_custom_property("blessed", verdicts)
    if span is not None:
        anomalies.set_int_custom_property(SPAN_PROPERTY, span)
    # Recorded whatever the DataGate decides, so a run stopped on drift keeps what drifted.
    anomalies.set_json_value_custom_property(DRIFT_PROPERTY, drifted)
    anomalies.set_string_custom_property(
        "drift_baseline",
        previous_statistics.uri if previous_statistics is not None else "none",
    )
