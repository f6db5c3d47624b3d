"""Transform's preprocessing_fn: the one place raw columns become model inputs and the label."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from models import features

TensorLike = tf.Tensor | tf.SparseTensor


def to_dense_column(value: TensorLike, default: float | int | str) -> tf.Tensor:
    """Flatten a one-value-per-row column to shape [batch], filling missing values with default."""
    if isinstance(value, tf.SparseTensor):
        batch = value.dense_shape[0]
        value = tf.sparse.to_dense(
            tf.SparseTensor(value.indices, value.values, tf.stack([batch, 1])),
            default_value=_fill_value(default, value.dtype),
        )
    return tf.reshape(value, [-1])


def _fill_value(default: float | int | str, dtype: tf.DType) -> tf.Tensor:
    """The default in the column's own dtype (an INT column may get a numeric float default)."""
    if dtype == tf.string:
        return tf.constant(default, tf.string)
    return tf.cast(tf.constant(default), dtype)


def label_and_weight(inputs: dict[str, TensorLike]) -> tuple[tf.Tensor, tf.Tensor]:
    """Big tipper (tips > 20% of fare); rows without a positive fare or a tip get weight 0."""
    fare = to_dense_column(inputs[features.FARE_KEY], float("nan"))
    tips = to_dense_column(inputs[features.TIPS_KEY], float("nan"))
    fare = tf.cast(fare, tf.float32)
    tips = tf.cast(tips, tf.float32)
    known = tf.logical_and(tf.math.is_finite(tips), tf.greater(fare, 0.0))
    label = tf.logical_and(known, tf.greater(tips, features.BIG_TIP_FRACTION * fare))
    return tf.cast(label, tf.int64), tf.cast(known, tf.float32)


def preprocessing_fn(inputs: dict[str, TensorLike]) -> dict[str, tf.Tensor]:
    """Scale, bucketize and look up every feature listed in models/features.py."""
    outputs: dict[str, tf.Tensor] = {}
    for key in features.DENSE_FLOAT_FEATURE_KEYS:
        value = tf.cast(to_dense_column(inputs[key], 0.0), tf.float32)
        outputs[features.transformed_name(key)] = tft.scale_to_z_score(value)
        outputs[features.bucketized_name(key)] = tft.bucketize(
            value, features.DENSE_BUCKET_COUNT, elementwise=True
        )
    for key in features.BUCKET_FEATURE_KEYS:
        value = tf.cast(to_dense_column(inputs[key], 0.0), tf.float32)
        outputs[features.transformed_name(key)] = tft.bucketize(
            value, features.FEATURE_BUCKET_COUNT, elementwise=True
        )
    for key, size in features.CATEGORICAL_FEATURE_MAX_VALUES.items():
        ids = tf.cast(to_dense_column(inputs[key], 0), tf.int64)
        outputs[features.transformed_name(key)] = tf.clip_by_value(ids, 0, size - 1)
    for key in features.VOCAB_FEATURE_KEYS:
        outputs[features.transformed_name(key)] = tft.compute_and_apply_vocabulary(
            to_dense_column(inputs[key], ""),
            top_k=features.VOCAB_SIZE,
            num_oov_buckets=features.OOV_SIZE,
            vocab_filename=key,
        )
    label, weight = label_and_weight(inputs)
    outputs[features.LABEL_KEY] = label
    outputs[features.WEIGHT_KEY] = weight
    return outputs
