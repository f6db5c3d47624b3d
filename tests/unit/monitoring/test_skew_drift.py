"""What monitoring compares and requires: every declared feature by its kind, the columns a
window may lack, and the features it cannot compare named with the reason."""

from __future__ import annotations

from pathlib import Path

from tensorflow_metadata.proto.v0 import schema_pb2

from pipeline.config.project import DriftThresholds, load_project
from pipeline.data import drift
from pipeline.data.summaries import category_text
from pipeline.monitoring.columns import Watched, window_summaries
from pipeline.monitoring.skew_drift import compare, not_required, serving_baseline
from tests.support.mlmd_fake import FakePipeline, served_from

MODELS = Path(__file__).resolve().parents[3] / "models"


def test_every_declared_feature_is_watched_integer_codes_as_categories() -> None:
    watched = Watched.from_project(load_project("taxi", MODELS))
    assert watched.features["trip_start_hour"] is drift.Kind.CATEGORICAL  # integer codes
    assert watched.features["payment_type"] is drift.Kind.CATEGORICAL
    assert watched.features["fare"] is drift.Kind.NUMERIC
    assert len(watched.features) == 14
    assert "fare" not in watched.not_required  # a label source that is a feature stays required
    assert watched.not_required["tips"].startswith("excluded: label source")
    assert watched.not_required["big_tipper"] == "the label (live metrics: feedback)"
    assert "trip_start_timestamp" in watched.not_required


def test_excluded_columns_are_not_expected_in_serving_data() -> None:
    schema = schema_pb2.Schema()
    for name in ("fare", "tips"):
        feature = schema.feature.add(name=name, type=schema_pb2.FLOAT)
        feature.presence.min_fraction = 1.0
        feature.presence.min_count = 1
    relaxed = not_required(schema, ["tips"])
    by_name = {f.name: f for f in relaxed.feature}
    assert (by_name["tips"].presence.min_fraction, by_name["tips"].presence.min_count) == (0, 0)
    assert not by_name["tips"].not_in_environment  # present in a window is no problem either
    assert by_name["fare"].presence.min_fraction == 1.0
    assert schema.feature[1].presence.min_count == 1  # the input is left as it was


def test_a_window_reads_integer_codes_alike_and_names_missing_columns(tmp_path: Path) -> None:
    window = tmp_path / "w.csv"
    window.write_text("\ufeffhour,company\n3,a\n3.0,b\n,a\n", encoding="utf-8")
    watched = Watched({"hour": drift.Kind.CATEGORICAL, "company": drift.Kind.CATEGORICAL,
                       "miles": drift.Kind.NUMERIC}, {}, DriftThresholds())
    summaries, missing = window_summaries(window, watched)
    assert summaries["hour"].shares == {"3": 1.0} and summaries["hour"].rows == 2
    assert missing == ["miles"]
    assert category_text(3) == category_text("3.0") == "3"


def test_features_that_cannot_be_compared_are_reported_with_the_reason() -> None:
    watched = Watched({"a": drift.Kind.NUMERIC, "b": drift.Kind.NUMERIC, "c": drift.Kind.NUMERIC,
                       "d": drift.Kind.NUMERIC}, {}, DriftThresholds())
    values = drift.numeric(float(v) for v in range(100))
    training = {"a": values, "b": values, "c": values}
    current = {"a": values, "c": drift.numeric([])}
    checks, unmonitored = compare(watched, training, {}, current, {"a": values})
    assert [(c.feature, c.comparison, c.crossed) for c in checks] == [
        ("a", "skew", False), ("a", "drift", False)]
    assert unmonitored == {"b": "absent from this window", "c": "no value in this window",
                           "d": "no value in the served model's training examples"}


def test_the_serving_baseline_keeps_an_object_store_uri_whole(tmp_path: Path) -> None:
    fake = FakePipeline(tmp_path / "metadata.sqlite", "taxi")
    served_from(fake, "gs://bucket/root")
    baseline = serving_baseline(fake.store, "taxi")
    assert baseline.statistics_uri == "gs://bucket/root/stats/Split-train/FeatureStats.pb"
    assert baseline.schema_uri == "gs://bucket/root/schema/schema.pbtxt"
    assert baseline.examples_uris == ("gs://bucket/root/examples",)
