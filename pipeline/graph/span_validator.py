"""SpanValidator: a span's statistics against the schema and the previous span (drift)."""


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
from pipeline.data import validation
from pipeline.vocabulary import (
    DRIFT_PROPERTY,
    PREVIOUS_STATISTICS_RESOLVER,
    SPAN_PROPERTY,
    STATISTICS_KEY,
    split_folder,
)


def statistics_span(store: metadata_store.MetadataStore, artifact_id: int) -> int | None:
    """Span of the Examples a StatisticsGen output was computed from (its own span stays 0).

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
    for artifact in store.get_artifacts_by_id(inputs):
        if "span" in artifact.custom_properties:
            return artifact.custom_properties["span"].int_value
    return None


class PreviousSpanStatisticsStrategy(resolver.ResolverStrategy):
    """The newest statistics of the latest span before `span`: the drift baseline of this run."""

    def __init__(self, span: int):
        self._span = span

    def resolve_artifacts(
        self, store: metadata_store.MetadataStore, input_dict: dict[str, list[Artifact]]
    ) -> dict[str, list[Artifact]]:
        """Empty on the first span: the validator then checks the schema only."""
        resolved = {}
        for key, artifacts in input_dict.items():
            spans = {a.id: span for a in artifacts
                     if (span := statistics_span(store, a.id)) is not None}
            earlier = [a for a in artifacts if a.id in spans and spans[a.id] < self._span]
            earlier.sort(key=lambda a: (spans[a.id], a.id))
            resolved[key] = earlier[-1:]
        return resolved


def previous_span_statistics(span: int) -> resolver.Resolver:
    """Resolver node giving the drift baseline for `span`, from every earlier run's statistics."""
    return resolver.Resolver(
        strategy_class=PreviousSpanStatisticsStrategy,
        config={"span": span},
        statistics=Channel(type=standard_artifacts.ExampleStatistics),
    ).with_id(PREVIOUS_STATISTICS_RESOLVER)


@component
def SpanValidator(  # TFX names components like classes
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    schema: InputArtifact[standard_artifacts.Schema],
    anomalies: OutputArtifact[standard_artifacts.ExampleAnomalies],
    previous_statistics: InputArtifact[
        standard_artifacts.ExampleStatistics
    ] = None,
    span: Parameter[int] = None,
) -> None:
    """ExampleValidator plus the schema's drift comparators against the previous span.

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
