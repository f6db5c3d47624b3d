"""Transform's preprocessing_fn for any declared project: feature treatments and the label by task.

TFX Transform calls `preprocessing_fn(inputs, custom_config)` with the pipeline's
`{"project": project.to_dict()}`. A project whose label is not a column (or needs its own rule)
brings its own preprocessing_fn that reuses `transform_features` and only derives its label and
weight (see models/taxi/preprocessing.py). Output names are in models/common/features.py and
pipeline/vocabulary.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

import tensorflow as tf
import tensorflow_transform as tft

from models.common import features
from pipeline import vocabulary
from pipeline.config.project import Feature, Project, Task, Treatment
from pipeline.vocabulary import transformed_name

TensorLike: TypeAlias = "tf.Tensor | tf.SparseTensor"


def project_from_config(custom_config: Mapping[str, Any] | None) -> Project:
    """The Project the pipeline passed in custom_config."""
    if not custom_config or "project" not in custom_config:
        raise ValueError("custom_config has no 'project': the pipeline passes "
                         "{'project': project.to_dict()} to Transform and the Trainer")
    return Project.from_dict(custom_config["project"])


# --- columns -------------------------------------------------------------------------------------

def dense_and_present(value: TensorLike, default: float | int | str) -> tuple[tf.Tensor, tf.Tensor]:
    """A one-value-per-row column as shape [batch], missing values set to default, and its presence.

    Floats that are NaN and empty strings count as missing too.
    """
    if isinstance(value, tf.SparseTensor):
        batch = value.dense_shape[0]
        shape = tf.stack([batch, 1])
        present = tf.sparse.to_dense(
            tf.SparseTensor(value.indices, tf.ones_like(value.values, tf.bool), shape), False)
        value = tf.sparse.to_dense(tf.SparseTensor(value.indices, value.values, shape),
                                   default_value=_fill_value(default, value.dtype))
        present = tf.reshape(present, [-1])
    else:
        present = tf.ones_like(tf.reshape(value, [-1]), tf.bool)
    value = tf.reshape(value, [-1])
    if value.dtype.is_floating:
        present = tf.logical_and(present, tf.math.is_finite(value))
    elif value.dtype == tf.string:
        present = tf.logical_and(present, tf.not_equal(value, ""))
    value = tf.where(present, value, _fill_value(default, value.dtype))
    return value, present


def to_dense_column(value: TensorLike, default: float | int | str) -> tf.Tensor:
    """Flatten a one-value-per-row column to shape [batch], filling missing values with default."""
    return dense_and_present(value, default)[0]


def _fill_value(default: float | int | str, dtype: tf.DType) -> tf.Tensor:
    """The default in the column's own dtype (an INT column may get a numeric float default).

    A string default for a numeric column (a vocabulary of integers) fills 0.
    """
    if dtype == tf.string:
        return tf.constant(str(default), tf.string)
    return tf.cast(tf.constant(0 if isinstance(default, str) else default), dtype)


def as_strings(value: tf.Tensor) -> tf.Tensor:
    """String form of a column; integral floats read like integers ("1.0" is "1")."""
    if value.dtype == tf.string:
        return value
    if value.dtype.is_floating:
        rounded = tf.round(value)
        integral = tf.logical_and(tf.equal(value, rounded), tf.abs(value) < 2.0**53)
        as_int = tf.strings.as_string(tf.cast(tf.where(integral, rounded, 0.0), tf.int64))
        return tf.where(integral, as_int, tf.strings.as_string(value))
    return tf.strings.as_string(value)


def _as_float(value: tf.Tensor) -> tf.Tensor:
    return tf.strings.to_number(value, tf.float32) if value.dtype == tf.string else tf.cast(value, tf.float32)


# Analyzers sum in float64. Beam merges their partial sums in an order that can change from one run
# to the next; in float32 that moved z-scores by up to 5e-7 between identical runs (and the model
# and metrics after them), in float64 the difference is far below what float32 outputs can show.
def _known_mean(value: tf.Tensor, present: tf.Tensor) -> tf.Tensor:
    """Mean of the present values (0 when none are), summed in float64."""
    mean = tft.mean(tf.boolean_mask(tf.cast(value, tf.float64), present))
    return tf.cast(tf.where(tf.math.is_finite(mean), mean, 0.0), tf.float32)


def _z_score(value: tf.Tensor) -> tf.Tensor:
    """tft.scale_to_z_score with the mean and variance summed in float64; float32 out."""
    return tf.cast(tft.scale_to_z_score(tf.cast(value, tf.float64)), tf.float32)


def _broadcast(constant: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """A [batch] column holding one analyzer constant, computed from a raw feature's batch size."""
    return tf.fill(tf.shape(like)[:1], tf.cast(constant, tf.float32))


# --- features ------------------------------------------------------------------------------------

def transform_feature(inputs: Mapping[str, TensorLike], feature: Feature) -> dict[str, tf.Tensor]:
    """One feature's model inputs, by its treatment."""
    name, treatment = feature.name, feature.treatment
    if treatment in (Treatment.NUMERIC, Treatment.BUCKETIZED):
        raw, present = dense_and_present(inputs[name], 0.0)
        value = _as_float(raw)
        value = tf.where(present, value, _known_mean(value, present))
        if treatment is Treatment.NUMERIC and not feature.buckets:
            return {transformed_name(name): _z_score(value)}
        bucket = tft.bucketize(value, feature.buckets, elementwise=True)
        if treatment is Treatment.BUCKETIZED:
            return {transformed_name(name): bucket}
        return {transformed_name(name): _z_score(value),
                features.bucketized_name(name): bucket}
    if treatment is Treatment.CATEGORICAL:
        raw = to_dense_column(inputs[name], 0)
        ids = tf.cast(_as_float(raw), tf.int64) if raw.dtype == tf.string or raw.dtype.is_floating \
            else tf.cast(raw, tf.int64)
        return {transformed_name(name): tf.clip_by_value(ids, 0, feature.max_value - 1)}
    strings = as_strings(to_dense_column(inputs[name], ""))
    if treatment is Treatment.VOCABULARY:
        return {transformed_name(name): tft.compute_and_apply_vocabulary(
            strings, top_k=feature.top_k, num_oov_buckets=feature.oov_buckets, vocab_filename=name)}
    if treatment is Treatment.HASHED:
        return {transformed_name(name): tf.strings.to_hash_bucket_fast(strings, feature.buckets)}
    raise ValueError(f"feature {name}: unknown treatment {treatment}")


def transform_features(inputs: Mapping[str, TensorLike], project: Project) -> dict[str, tf.Tensor]:
    """Every declared feature's model inputs (no label, no weight)."""
    missing = [f.name for f in project.features if f.name not in inputs]
    if missing:
        raise ValueError(f"project {project.name}: features {missing} are not in the data's schema")
    outputs: dict[str, tf.Tensor] = {}
    for feature in project.features:
        outputs.update(transform_feature(inputs, feature))
    return outputs


# --- label and weight ----------------------------------------------------------------------------

def label_outputs(inputs: Mapping[str, TensorLike], project: Project) -> dict[str, tf.Tensor]:
    """The label encoded for the task, and the weight: 0 where the label is missing or unknown.

    binary      1 where the label (read as a string) is positive_class, else 0
    multiclass  index of the label in `classes`; an unknown value gets index 0 and weight 0
    regression  the raw float target for the Evaluator, its z-score for training, and the
                target's mean and standard deviation broadcast per row for unscaling at serving
    """
    if project.label not in inputs:
        raise ValueError(f"project {project.name}: label column '{project.label}' is not in the data")
    label_key = vocabulary.label_key(project.label)
    raw, known = dense_and_present(inputs[project.label], "")
    outputs: dict[str, tf.Tensor] = {}
    if project.task is Task.BINARY:
        positive = tf.equal(as_strings(raw), str(project.positive_class))
        outputs[label_key] = tf.cast(tf.logical_and(known, positive), tf.int64)
    elif project.task is Task.MULTICLASS:
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(project.classes)), tf.range(len(project.classes), dtype=tf.int64)),
            default_value=-1)
        index = table.lookup(as_strings(raw))
        known = tf.logical_and(known, index >= 0)
        outputs[label_key] = tf.where(known, index, tf.zeros_like(index))
    else:
        target = _as_float(raw)
        known = tf.logical_and(known, tf.math.is_finite(target))
        target = tf.where(known, target, 0.0)
        known_target = tf.boolean_mask(tf.cast(target, tf.float64), known)
        mean, std = tft.mean(known_target), tf.sqrt(tft.var(known_target))
        mean = tf.cast(tf.where(tf.math.is_finite(mean), mean, 0.0), tf.float32)
        std = tf.cast(tf.where(tf.logical_and(tf.math.is_finite(std), std > 0), std, 1.0), tf.float32)
        outputs[label_key] = target
        outputs[features.training_label_key(project)] = tf.where(known, (target - mean) / std, 0.0)
        # From a feature, not the label, so the serving graph (no label column) still computes them.
        like = to_dense_column(inputs[project.features[0].name], 0)
        outputs[vocabulary.LABEL_MEAN_KEY] = _broadcast(mean, like)
        outputs[vocabulary.LABEL_STD_KEY] = _broadcast(std, like)
    weight = tf.cast(known, tf.float32)
    if project.weight:
        if project.weight not in inputs:
            raise ValueError(f"project {project.name}: weight column '{project.weight}' is not in the data")
        # A missing weight value counts as 1: the row keeps its default weight.
        weight *= _as_float(to_dense_column(inputs[project.weight], 1.0))
    outputs[vocabulary.WEIGHT_KEY] = weight
    return outputs


def preprocessing_fn(inputs: dict[str, TensorLike], custom_config: dict[str, Any]) -> dict[str, tf.Tensor]:
    """Every declared feature's treatment plus the label encoded for the project's task."""
    project = project_from_config(custom_config)
    features.transform_output_names(project)
    return {**transform_features(inputs, project), **label_outputs(inputs, project)}
