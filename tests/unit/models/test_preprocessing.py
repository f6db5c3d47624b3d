"""preprocessing_fn run with tft_beam on a handful of rows parsed with the curated schema."""

from __future__ import annotations

import tempfile

import numpy as np
import pytest
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.tf_metadata import schema_utils
from tfx.utils import io_utils

from models import features, preprocessing
from pipeline.config import PipelineConfig


def raw_row(**values: object) -> dict[str, object]:
    """A complete raw row with plausible values; keyword arguments override columns."""
    row: dict[str, object] = {
        "fare": 10.0, "tips": 0.0, "trip_miles": 2.0, "trip_seconds": 600,
        "trip_start_hour": 12, "trip_start_day": 3, "trip_start_month": 6,
        "trip_start_timestamp": 1400000000,
        "pickup_latitude": 41.9, "pickup_longitude": -87.6,
        "dropoff_latitude": 41.8, "dropoff_longitude": -87.7,
        "pickup_community_area": 8, "dropoff_community_area": 32,
        "payment_type": b"Cash", "company": b"Flash Cab",
    }
    row.update(values)
    return {key: [value] if value is not None else [] for key, value in row.items()}


ROWS = [
    raw_row(tips=3.0, payment_type=b"Credit Card"),  # 30% tip: big tipper
    raw_row(tips=2.0),  # exactly 20%: not strictly greater
    raw_row(fare=0.0, tips=1.0),  # zero fare: no tip percentage, weight 0
    raw_row(company=None, dropoff_latitude=None, trip_start_hour=99),  # missing and out of range
    raw_row(payment_type=b"Bitcoin"),  # unseen at serving time maps to an OOV bucket
]


@pytest.fixture(scope="module")
def transformed() -> list[dict[str, np.ndarray]]:
    """Run the real preprocessing_fn through tft_beam on ROWS."""
    schema = io_utils.parse_pbtxt_file(str(PipelineConfig().schema_path), schema_pb2.Schema())
    feature_spec = {
        key: spec for key, spec in schema_utils.schema_as_feature_spec(schema).feature_spec.items()
        if key in features.raw_feature_keys() + features.label_source_keys()
    }
    metadata = tft.DatasetMetadata.from_feature_spec(feature_spec)
    rows = [{k: v for k, v in row.items() if k in feature_spec} for row in ROWS]
    with tft_beam.Context(temp_dir=tempfile.mkdtemp(), force_tf_compat_v1=False):
        (result, _), _ = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(
            preprocessing.preprocessing_fn, output_record_batches=False
        )
    return result


def test_label_is_tip_strictly_above_twenty_percent_of_fare(transformed) -> None:
    labels = [int(np.ravel(row[features.LABEL_KEY])[0]) for row in transformed]
    assert labels == [1, 0, 0, 0, 0]


def test_rows_without_a_positive_fare_get_zero_weight(transformed) -> None:
    weights = [float(np.ravel(row[features.WEIGHT_KEY])[0]) for row in transformed]
    assert weights == [1.0, 1.0, 0.0, 1.0, 1.0]


def test_every_model_input_is_produced_within_its_range(transformed) -> None:
    sizes = features.categorical_cardinalities()
    for row in transformed:
        for name, size in sizes.items():
            assert 0 <= int(np.ravel(row[name])[0]) < size, name
        for name in features.numeric_model_inputs():
            assert np.isfinite(np.ravel(row[name])[0]), name


def test_out_of_range_hour_is_clipped(transformed) -> None:
    hour = features.transformed_name("trip_start_hour")
    assert int(np.ravel(transformed[3][hour])[0]) == 23


def test_dense_column_fills_missing_values() -> None:
    import tensorflow as tf

    sparse = tf.SparseTensor(indices=[[0, 0], [2, 0]], values=[5, 7], dense_shape=[3, 1])
    dense = preprocessing.to_dense_column(tf.cast(sparse, tf.int64), -1)
    assert dense.numpy().tolist() == [5, -1, 7]
