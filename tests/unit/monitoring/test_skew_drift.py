"""Which features monitoring compares: the curated schema's choice, else every served feature."""

from __future__ import annotations

from pathlib import Path

from tensorflow_metadata.proto.v0 import schema_pb2

from pipeline.monitoring.skew_drift import serving_baseline, with_comparators
from tests.support.mlmd_fake import FakePipeline, served_from


def schema_of(*features: tuple[str, int]) -> schema_pb2.Schema:
    schema = schema_pb2.Schema()
    for name, kind in features:
        schema.feature.add(name=name, type=kind)
    return schema


def test_a_schema_without_comparators_gets_one_for_each_served_feature() -> None:
    schema = schema_of(("colour", schema_pb2.BYTES), ("size", schema_pb2.FLOAT), ("label", schema_pb2.INT))
    compared = with_comparators(schema, ["colour", "size"])
    by_name = {f.name: f for f in compared.feature}
    assert by_name["colour"].skew_comparator.HasField("infinity_norm")
    assert by_name["size"].drift_comparator.HasField("jensen_shannon_divergence")
    assert not by_name["label"].HasField("skew_comparator")
    assert not schema.feature[0].HasField("skew_comparator")  # the input is left as it was


def test_a_curated_choice_of_comparators_is_kept_as_it_is() -> None:
    schema = schema_of(("colour", schema_pb2.BYTES), ("size", schema_pb2.FLOAT))
    schema.feature[0].skew_comparator.infinity_norm.threshold = 0.2
    compared = with_comparators(schema, ["colour", "size"])
    assert compared == schema
    assert not compared.feature[1].HasField("drift_comparator")


def test_the_serving_baseline_keeps_an_object_store_uri_whole(tmp_path: Path) -> None:
    fake = FakePipeline(tmp_path / "metadata.sqlite", "taxi")
    served_from(fake, "gs://bucket/root")
    baseline = serving_baseline(fake.store, "taxi")
    assert baseline.statistics_uri == "gs://bucket/root/stats/Split-train/FeatureStats.pb"
    assert baseline.schema_uri == "gs://bucket/root/schema/schema.pbtxt"

