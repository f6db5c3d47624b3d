"""The taxi project's own preprocessing_fn: its derived big-tipper label and the inputs it reads."""

from __future__ import annotations

import functools

import pytest
import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.tf_metadata import schema_utils
from tfx.utils import io_utils

from models.common import features
from models.taxi import preprocessing
from pipeline.config import MODELS_DIR, PROJECT_ROOT
from pipeline.config.project import load_project

# Runs TensorFlow: `make test-unit` skips it, `make test` runs it.
pytestmark = [pytest.mark.slow, pytest.mark.taxi]


def label_and_weight(fare: tf.Tensor, tips: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The project's rule on two columns, as Transform feeds them (dense, or sparse when optional)."""
    return preprocessing.label_and_weight({preprocessing.FARE_KEY: fare, preprocessing.TIPS_KEY: tips})


def test_the_label_is_a_tip_above_a_fifth_of_a_positive_fare() -> None:
    fare = tf.constant([10.0, 10.0, 0.0, 10.0])
    tips = tf.SparseTensor([[0, 0], [1, 0], [2, 0]], [3.0, 2.0, 1.0], [4, 1])
    label, weight = label_and_weight(fare, tips)
    assert label.numpy().tolist() == [1, 0, 0, 0]
    assert weight.numpy().tolist() == [1.0, 1.0, 0.0, 0.0]


def test_a_row_without_a_fare_weighs_nothing() -> None:
    fare = tf.SparseTensor([[0, 0], [2, 0]], [10.0, 10.0], [3, 1])
    tips = tf.constant([3.0, 2.0, 1.0])
    label, weight = label_and_weight(fare, tips)
    assert label.numpy().tolist() == [1, 0, 0]
    assert weight.numpy().tolist() == [1.0, 0.0, 1.0]


def test_the_preprocessing_fn_reads_its_declared_features_and_label_sources() -> None:
    """Traced (no Beam) on the curated taxi schema: declared features plus tips in, model inputs out."""
    from tensorflow_transform import impl_helper

    project = load_project("taxi", MODELS_DIR)
    assert project.schema == "models/taxi/schema.pbtxt"  # beside the declaration, as init writes it
    schema = io_utils.parse_pbtxt_file(str(PROJECT_ROOT / project.schema), schema_pb2.Schema())
    specs = impl_helper.get_type_specs_from_feature_specs(
        schema_utils.schema_as_feature_spec(schema).feature_spec)
    fn = functools.partial(preprocessing.preprocessing_fn, custom_config={"project": project.to_dict()})
    read = set(tft.get_transform_input_columns(fn, specs))
    assert read == {*project.feature_names, preprocessing.TIPS_KEY}
    _, _, outputs = impl_helper.trace_preprocessing_function(fn, specs, use_tf_compat_v1=False)
    assert set(outputs) == {*features.model_input_names(project), "big_tipper_xf", features.WEIGHT_KEY}
