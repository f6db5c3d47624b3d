"""The taxi project's preprocessing_fn: the generic feature transforms plus its derived label.

The label "big tipper" is not a column of the CSV: a trip is one when tips > 20 % of the fare.
Rows without a positive fare or a tip get weight 0 (kept in statistics, out of loss and metrics).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from models.common.preprocessing import (
    TensorLike,
    project_from_config,
    to_dense_column,
    transform_features,
)
from models.taxi.label import BIG_TIP_FRACTION, FARE_KEY, TIPS_KEY
from pipeline import vocabulary


def label_and_weight(inputs: dict[str, TensorLike]) -> tuple[tf.Tensor, tf.Tensor]:
    """Big tipper (tips > 20% of fare); rows without a positive fare or a tip get weight 0."""
    fare = tf.cast(to_dense_column(inputs[FARE_KEY], float("nan")), tf.float32)
    tips = tf.cast(to_dense_column(inputs[TIPS_KEY], float("nan")), tf.float32)
    known = tf.logical_and(tf.math.is_finite(tips), tf.greater(fare, 0.0))
    label = tf.logical_and(known, tf.greater(tips, BIG_TIP_FRACTION * fare))
    return tf.cast(label, tf.int64), tf.cast(known, tf.float32)


def preprocessing_fn(inputs: dict[str, TensorLike], custom_config: dict[str, Any]) -> dict[str, tf.Tensor]:
    """The declared features' transforms, the big-tipper label and its weight."""
    project = project_from_config(custom_config)
    outputs = transform_features(inputs, project)
    label, weight = label_and_weight(inputs)
    outputs[vocabulary.label_key(project.label)] = label
    outputs[vocabulary.WEIGHT_KEY] = weight
    return outputs
