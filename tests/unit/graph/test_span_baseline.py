"""The drift baseline of a run's oldest span, resolved from ML Metadata: the newest statistics of
the latest earlier span, and the very examples they were computed from (the calibrated drift of
declared features reads their values)."""

from __future__ import annotations

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd
from tfx.types import standard_artifacts
from tfx.types.artifact import Artifact

from pipeline.graph.span_validator import PreviousSpanStatisticsStrategy
from pipeline.vocabulary import EXAMPLES_KEY, SPAN_PROPERTY, STATISTICS_KEY


def put(store: metadata_store.MetadataStore, type_name: str, span: int | None = None) -> int:
    """An artifact of a type, with a span when given; its id."""
    artifact = mlmd.Artifact(type_id=store.put_artifact_type(mlmd.ArtifactType(name=type_name)))
    if span is not None:
        artifact.custom_properties[SPAN_PROPERTY].int_value = span
    [artifact_id] = store.put_artifacts([artifact])
    return artifact_id


def statistics_of(store: metadata_store.MetadataStore, examples_id: int) -> int:
    """A StatisticsGen execution that read these examples; its statistics' id."""
    statistics_id = put(store, "ExampleStatistics")
    execution_type = store.put_execution_type(mlmd.ExecutionType(name="StatisticsGen"))
    [execution_id] = store.put_executions([mlmd.Execution(type_id=execution_type)])
    events = []
    for kind, key, artifact_id in ((mlmd.Event.INPUT, EXAMPLES_KEY, examples_id),
                                   (mlmd.Event.OUTPUT, STATISTICS_KEY, statistics_id)):
        event = mlmd.Event(type=kind, artifact_id=artifact_id, execution_id=execution_id)
        event.path.steps.add().key = key
        events.append(event)
    store.put_events(events)
    return statistics_id


def handles(kind: type[Artifact], ids: list[int]) -> list[Artifact]:
    """TFX artifacts standing for these ids, as a resolver receives them."""
    made = []
    for artifact_id in ids:
        artifact = kind()
        artifact.id = artifact_id
        made.append(artifact)
    return made


def test_the_baseline_is_the_latest_earlier_spans_newest_statistics_and_their_examples() -> None:
    config = mlmd.ConnectionConfig()
    config.fake_database.SetInParent()
    store = metadata_store.MetadataStore(config)
    examples = {name: put(store, "Examples", span)
                for name, span in (("2", 2), ("3", 3), ("3 again", 3), ("5", 5))}
    statistics = {name: statistics_of(store, examples_id) for name, examples_id in examples.items()}
    transform_statistics = put(store, "ExampleStatistics")  # no span: another component's
    inputs = {
        STATISTICS_KEY: handles(standard_artifacts.ExampleStatistics,
                                [*statistics.values(), transform_statistics]),
        EXAMPLES_KEY: handles(standard_artifacts.Examples, list(examples.values())),
    }

    def resolved(span: int) -> tuple[list[int], list[int]]:
        """The statistics and examples ids resolved as the baseline of `span`."""
        found = PreviousSpanStatisticsStrategy(span).resolve_artifacts(store, inputs)
        return [a.id for a in found[STATISTICS_KEY]], [a.id for a in found[EXAMPLES_KEY]]

    assert resolved(5) == ([statistics["3 again"]], [examples["3 again"]])
    assert resolved(4) == resolved(5)
    assert resolved(3) == ([statistics["2"]], [examples["2"]])
    assert resolved(2) == ([], [])
