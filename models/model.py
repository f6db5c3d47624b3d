"""Trainer's run_fn: a wide-and-deep Keras classifier with serving signatures that embed Transform."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from models import features
from models.preprocessing import TensorLike

SERVING_SIGNATURE = "serving_default"
RAW_SIGNATURE = "serving_raw"
TRANSFORM_SIGNATURE = "transform_features"
PROBABILITY_OUTPUT = "probabilities"
TRAINING_LOG = "training_log.json"


@dataclass(frozen=True)
class Hyperparameters:
    """Training knobs passed from the pipeline config through Trainer's custom_config."""

    batch_size: int = 256
    learning_rate: float = 0.003
    hidden_units: tuple[int, ...] = (64, 32)
    dropout: float = 0.3
    l2: float = 1e-3
    seed: int = 42

    @classmethod
    def from_custom_config(cls, custom_config: dict[str, Any] | None) -> Hyperparameters:
        """Read the values the pipeline recorded, falling back to the defaults above."""
        values = dict((custom_config or {}).get("hyperparameters", {}))
        if "hidden_units" in values:
            values["hidden_units"] = tuple(values["hidden_units"])
        return cls(**values)


def _require_legacy_keras() -> None:
    """Fail early with the fix when TF's Keras 3 default would break the Transform layer."""
    if not tf.keras.__name__.startswith("tf_keras"):
        raise RuntimeError(
            "TensorFlow is using Keras 3; set TF_USE_LEGACY_KERAS=1 before TensorFlow is imported"
        )


def model_input_names() -> list[str]:
    """Transformed features the network reads, in a stable order."""
    return sorted(list(features.numeric_model_inputs()) + list(features.categorical_cardinalities()))


def build_model(hparams: Hyperparameters) -> tf.keras.Model:
    """Embeddings for categorical ids plus z-scored numbers, a deep tower and a wide one-hot part."""
    regularizer = tf.keras.regularizers.l2(hparams.l2)
    inputs, deep_parts, wide_parts = {}, [], []
    for name, size in sorted(features.categorical_cardinalities().items()):
        inputs[name] = tf.keras.Input(shape=(1,), name=name, dtype=tf.int64)
        dim = min(16, 1 + int(math.sqrt(size)))
        embedded = tf.keras.layers.Embedding(
            size, dim, embeddings_regularizer=regularizer, name=f"{name}_embedding"
        )(inputs[name])
        deep_parts.append(tf.keras.layers.Flatten()(embedded))
        wide_parts.append(tf.keras.layers.CategoryEncoding(size, output_mode="one_hot")(inputs[name]))
    for name in features.numeric_model_inputs():
        inputs[name] = tf.keras.Input(shape=(1,), name=name, dtype=tf.float32)
        deep_parts.append(inputs[name])
    deep = tf.keras.layers.concatenate(deep_parts)
    for units in hparams.hidden_units:
        deep = tf.keras.layers.Dense(units, activation="relu", kernel_regularizer=regularizer)(deep)
        deep = tf.keras.layers.Dropout(hparams.dropout)(deep)
    wide = tf.keras.layers.concatenate(wide_parts)
    logit = tf.keras.layers.Dense(1, kernel_regularizer=regularizer)(
        tf.keras.layers.concatenate([deep, wide])
    )
    probability = tf.keras.layers.Activation("sigmoid", name=PROBABILITY_OUTPUT)(logit)
    return tf.keras.Model(inputs=inputs, outputs=probability)


@dataclass
class TrainingLog:
    """Loss every LOG_EVERY steps and the final validation metrics, saved beside the model."""

    train_loss: list[tuple[int, float]]
    eval_loss: float
    eval_auc: float
    eval_accuracy: float


LOG_EVERY = 100


def train(
    model: tf.keras.Model,
    train_data: tf.data.Dataset,
    eval_data: tf.data.Dataset,
    hparams: Hyperparameters,
    train_steps: int,
    eval_steps: int,
) -> TrainingLog:
    """A plain training loop traced without AutoGraph.

    Keras' fit() spends about 20 s of CPU converting its own code with AutoGraph on these
    machines before the first step; this loop needs no conversion and traces in about 2 s.
    """
    optimizer = tf.keras.optimizers.Adam(hparams.learning_rate)
    loss_fn = tf.keras.losses.BinaryCrossentropy()

    @tf.function(autograph=False, reduce_retracing=True)
    def train_step(inputs: dict, label: tf.Tensor, weight: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = loss_fn(label, model(inputs, training=True), sample_weight=weight)
            loss += tf.add_n(model.losses) if model.losses else 0.0
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss

    losses, batches = [], iter(train_data)
    for step in range(1, train_steps + 1):
        loss = train_step(*next(batches))
        if step % LOG_EVERY == 0 or step in (1, train_steps):
            losses.append((step, float(loss)))
    return TrainingLog(losses, *evaluate(model, eval_data, eval_steps))


def evaluate(
    model: tf.keras.Model, data: tf.data.Dataset, steps: int
) -> tuple[float, float, float]:
    """Weighted loss, AUC and accuracy over `steps` batches."""
    loss = tf.keras.metrics.Mean()
    auc = tf.keras.metrics.AUC()
    accuracy = tf.keras.metrics.BinaryAccuracy()
    loss_fn = tf.keras.losses.BinaryCrossentropy(reduction="none")

    @tf.function(autograph=False, reduce_retracing=True)
    def eval_step(inputs: dict, label: tf.Tensor, weight: tf.Tensor) -> None:
        probability = model(inputs, training=False)
        loss.update_state(loss_fn(label, probability), sample_weight=tf.reshape(weight, [-1]))
        auc.update_state(label, probability, sample_weight=weight)
        accuracy.update_state(label, probability, sample_weight=weight)

    for inputs, label, weight in data.take(steps):
        eval_step(inputs, label, weight)
    return float(loss.result()), float(auc.result()), float(accuracy.result())


def _split_weight(batch: dict[str, tf.Tensor], label: tf.Tensor) -> tuple:
    """Turn Transform's weight column into Keras sample weights and keep only model inputs."""
    model_inputs = {name: batch[name] for name in model_input_names()}
    column = [-1, 1]
    label = tf.reshape(tf.cast(label, tf.float32), column)
    return model_inputs, label, tf.reshape(batch[features.WEIGHT_KEY], column)


def input_dataset(
    file_pattern: list[str],
    data_accessor: tfx.components.DataAccessor,
    tf_transform_output: tft.TFTransformOutput,
    batch_size: int,
    seed: int,
) -> tf.data.Dataset:
    """Batches of transformed examples as (inputs, label, weight), shuffled with a fixed seed."""
    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(
            batch_size=batch_size, label_key=features.LABEL_KEY, shuffle_seed=seed
        ),
        tf_transform_output.transformed_metadata.schema,
    )
    return dataset.map(_split_weight, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE
    )


def _serving_feature_spec(tf_transform_output: tft.TFTransformOutput) -> dict[str, Any]:
    """Raw feature spec restricted to the columns a client sends (no label sources)."""
    spec = tf_transform_output.raw_feature_spec()
    return {key: spec[key] for key in features.raw_feature_keys()}


def _predict(
    model: tf.keras.Model, tft_layer: tf.keras.layers.Layer, raw: dict[str, TensorLike]
) -> dict[str, tf.Tensor]:
    """Apply the Transform graph and the network to raw features."""
    transformed = tft_layer(raw)
    model_inputs = {name: transformed[name] for name in model_input_names()}
    return {PROBABILITY_OUTPUT: model(model_inputs)}


def _raw_to_parsed(value: tf.Tensor, spec: Any) -> TensorLike:
    """Shape a [batch] tensor the way tf.io.parse_example would give it for this spec."""
    column = tf.reshape(value, [-1, 1])
    return _all_present(column) if isinstance(spec, tf.io.VarLenFeature) else column


def _all_present(column: tf.Tensor) -> tf.SparseTensor:
    """A sparse tensor with every row present (from_dense would drop empty strings)."""
    rows = tf.range(tf.shape(column, out_type=tf.int64)[0])
    indices = tf.stack([rows, tf.zeros_like(rows)], axis=1)
    return tf.SparseTensor(indices, tf.reshape(column, [-1]), tf.shape(column, out_type=tf.int64))


def signatures(
    model: tf.keras.Model,
    tft_layer: tf.keras.layers.Layer,
    tf_transform_output: tft.TFTransformOutput,
) -> dict:
    """serving_default (tf.Example), serving_raw (named tensors) and transform_features (TFMA)."""
    serving_spec = _serving_feature_spec(tf_transform_output)
    full_spec = tf_transform_output.raw_feature_spec()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")],
                 autograph=False)
    def serve_examples(examples: tf.Tensor) -> dict[str, tf.Tensor]:
        return _predict(model, tft_layer, tf.io.parse_example(examples, serving_spec))

    raw_specs = [tf.TensorSpec([None], spec.dtype, name=key) for key, spec in serving_spec.items()]

    @tf.function(input_signature=raw_specs, autograph=False)
    def serve_raw(*columns: tf.Tensor) -> dict[str, tf.Tensor]:
        raw = {
            key: _raw_to_parsed(column, serving_spec[key])
            for key, column in zip(serving_spec, columns, strict=True)
        }
        return _predict(model, tft_layer, raw)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")],
                 autograph=False)
    def transform_features(examples: tf.Tensor) -> dict[str, tf.Tensor]:
        return tft_layer(tf.io.parse_example(examples, full_spec))

    return {
        SERVING_SIGNATURE: serve_examples,
        RAW_SIGNATURE: serve_raw,
        TRANSFORM_SIGNATURE: transform_features,
    }


class ServingModule(tf.Module):
    """What gets exported: the network's variables, the Transform layer and the signatures.

    Saving the Keras model itself would also trace every layer's call with AutoGraph (about 8 s of
    CPU here) for a Keras reload path that neither TF Serving nor the Evaluator uses.
    """

    def __init__(self, model: tf.keras.Model, tft_layer: tf.keras.layers.Layer) -> None:
        super().__init__()
        self.model_variables = list(model.variables)
        self.tft_layer = tft_layer


def export(model: tf.keras.Model, tf_transform_output: tft.TFTransformOutput, path: str) -> None:
    """Write the SavedModel TF Serving and the Evaluator load."""
    tft_layer = tf_transform_output.transform_features_layer()
    tf.saved_model.save(
        ServingModule(model, tft_layer),
        path,
        signatures=signatures(model, tft_layer, tf_transform_output),
    )


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """Train for the configured steps with sample weights, then export with the three signatures."""
    _require_legacy_keras()
    hparams = Hyperparameters.from_custom_config(fn_args.custom_config)
    tf.keras.utils.set_random_seed(hparams.seed)
    # Same inputs, same weights: reproducible runs compare eval metrics to 1e-6.
    tf.config.experimental.enable_op_determinism()
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    train_data = input_dataset(
        fn_args.train_files, fn_args.data_accessor, tf_transform_output,
        hparams.batch_size, hparams.seed,
    )
    eval_data = input_dataset(
        fn_args.eval_files, fn_args.data_accessor, tf_transform_output,
        hparams.batch_size, hparams.seed,
    )
    model = build_model(hparams)
    log = train(model, train_data, eval_data, hparams, fn_args.train_steps, fn_args.eval_steps)
    tf.io.gfile.makedirs(fn_args.model_run_dir)
    with tf.io.gfile.GFile(f"{fn_args.model_run_dir}/{TRAINING_LOG}", "w") as handle:
        json.dump(dataclasses.asdict(log), handle, indent=2)
    export(model, tf_transform_output, fn_args.serving_model_dir)
