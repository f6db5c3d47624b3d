"""Trainer's run_fn for any declared project: a wide-and-deep Keras network for its task.

binary      1 sigmoid unit, binary cross-entropy; serving output `probabilities` [batch, 1]
multiclass  one softmax unit per class, sparse categorical cross-entropy; serving outputs
            `probabilities` [batch, n_classes] and `classes` (name of the most likely class) [batch]
regression  1 linear unit, mean squared error on the z-scored target; serving output
            `prediction` [batch, 1] in the target's original units, unscaled inside the signature
            with the mean and standard deviation the Transform graph computed

Every model exports a tf.Module with three signatures: `serving_default` (serialized tf.Example),
`serving_raw` (one named [batch] tensor per declared feature) and `transform_features` (the
Transform graph for the Evaluator, whose ModelSpec.prediction_key is pipeline.vocabulary.prediction_key()).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import DataAccessor, FnArgs
from tfx_bsl.public import tfxio

from models.common import features
from models.common.preprocessing import TensorLike, project_from_config
from pipeline import vocabulary
from pipeline.config.project import Project, Task, ThresholdDeclaration, threshold_declaration
from pipeline.data import decision_threshold

LOG_EVERY = 100
# Rows of each split a binary model's decision threshold is chosen on (train) and checked on (eval),
# at most, in file order: enough for a stable cut, bounded time on millions of rows.
THRESHOLD_ROWS = 100_000
THRESHOLD_BATCH = 1024


@dataclass(frozen=True)
class Hyperparameters:
    """Training knobs: the declaration's `training.hyperparameters`, overridden by custom_config."""

    batch_size: int = 256
    learning_rate: float = 0.003
    hidden_units: tuple[int, ...] = (64, 32)
    dropout: float = 0.3
    l2: float = 1e-3
    seed: int = 42

    @classmethod
    def from_custom_config(cls, custom_config: Mapping[str, Any] | None) -> Hyperparameters:
        """The project's values, then custom_config["hyperparameters"], falling back to the defaults."""
        config = dict(custom_config or {})
        values = dict((config.get("project") or {}).get("hyperparameters") or {})
        values.update(config.get("hyperparameters") or {})
        if "hidden_units" in values:
            values["hidden_units"] = tuple(values["hidden_units"])
        return cls(**values)


def _require_legacy_keras() -> None:
    """Fail early with the fix when TF's Keras 3 default would break the Transform layer."""
    if not tf.keras.__name__.startswith("tf_keras"):
        raise RuntimeError(
            "TensorFlow is using Keras 3; set TF_USE_LEGACY_KERAS=1 before TensorFlow is imported"
        )


# --- the network ---------------------------------------------------------------------------------

def build_model(project: Project, hparams: Hyperparameters) -> tf.keras.Model:
    """Embeddings of categorical ids plus z-scored numbers in a deep tower, and a wide linear part.

    The wide part is one linear weight per id and output unit (an embedding of width `units`,
    the same function as a one-hot vector into a dense layer, without materializing the one-hot).
    """
    regularizer = tf.keras.regularizers.l2(hparams.l2)
    units = features.output_units(project)
    inputs, deep_parts, wide_parts = {}, [], []
    for name, size in sorted(features.categorical_cardinalities(project).items()):
        inputs[name] = tf.keras.Input(shape=(1,), name=name, dtype=tf.int64)
        dim = min(16, 1 + int(math.sqrt(size)))
        embedded = tf.keras.layers.Embedding(
            size, dim, embeddings_regularizer=regularizer, name=f"{name}_embedding")(inputs[name])
        deep_parts.append(tf.keras.layers.Flatten()(embedded))
        linear = tf.keras.layers.Embedding(
            size, units, embeddings_regularizer=regularizer, name=f"{name}_wide")(inputs[name])
        wide_parts.append(tf.keras.layers.Flatten()(linear))
    for name in features.numeric_model_inputs(project):
        inputs[name] = tf.keras.Input(shape=(1,), name=name, dtype=tf.float32)
        deep_parts.append(inputs[name])
    deep = _combine(deep_parts, tf.keras.layers.Concatenate)
    for hidden in hparams.hidden_units:
        deep = tf.keras.layers.Dense(hidden, activation="relu", kernel_regularizer=regularizer)(deep)
        deep = tf.keras.layers.Dropout(hparams.dropout)(deep)
    logits = tf.keras.layers.Dense(units, kernel_regularizer=regularizer)(deep)
    if wide_parts:
        logits = tf.keras.layers.Add()([logits, *wide_parts])
    activation = {Task.BINARY: "sigmoid", Task.MULTICLASS: "softmax", Task.REGRESSION: "linear"}
    output = tf.keras.layers.Activation(activation[project.task],
                                        name=vocabulary.prediction_key(project.task))
    return tf.keras.Model(inputs=inputs, outputs=output(logits))


def _combine(parts: list, layer: type) -> tf.Tensor:
    return parts[0] if len(parts) == 1 else layer()(parts)


def loss_function(project: Project, reduction: str = "sum_over_batch_size") -> tf.keras.losses.Loss:
    """The training loss of the task (on the z-scored target for regression)."""
    if project.task is Task.BINARY:
        return tf.keras.losses.BinaryCrossentropy(reduction=reduction)
    if project.task is Task.MULTICLASS:
        return tf.keras.losses.SparseCategoricalCrossentropy(reduction=reduction)
    return tf.keras.losses.MeanSquaredError(reduction=reduction)


# --- training ------------------------------------------------------------------------------------

@dataclass
class TrainingLog:
    """Loss every LOG_EVERY steps and the final validation loss and metrics, saved beside the model.

    eval_metrics use the declaration's metric names: binary auc and accuracy, multiclass accuracy,
    regression rmse and mae in the target's original units.
    """

    task: str
    train_loss: list[tuple[int, float]]
    eval_loss: float
    eval_metrics: dict[str, float] = field(default_factory=dict)


def train(
    model: tf.keras.Model,
    project: Project,
    train_data: tf.data.Dataset,
    eval_data: tf.data.Dataset,
    hparams: Hyperparameters,
    train_steps: int,
    eval_steps: int,
    label_std: float = 1.0,
) -> TrainingLog:
    """A plain training loop traced without AutoGraph, over (inputs, label, weight) batches.

    Keras' fit() spends about 20 s of CPU converting its own code with AutoGraph on these
    machines before the first step; this loop needs no conversion and traces in about 2 s. The
    steps between two logged losses run inside one graph loop: one Python call per LOG_EVERY
    steps instead of one per step, whose dispatch cost more than the step itself.
    """
    optimizer = tf.keras.optimizers.Adam(hparams.learning_rate)
    optimizer.build(model.trainable_variables)  # slots exist before the loop that updates them
    loss_fn = loss_function(project)

    def train_step(inputs: dict, label: tf.Tensor, weight: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = loss_fn(label, model(inputs, training=True), sample_weight=weight)
            loss += tf.add_n(model.losses) if model.losses else 0.0
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss

    batches = iter(train_data)
    run_steps = repeated(lambda: train_step(*batches.get_next()))
    losses, done = [], 0
    for step in logged_steps(train_steps):
        loss = run_steps(tf.constant(step - done))
        done = step
        losses.append((step, float(loss)))
        tf.summary.scalar("train/loss", loss, step=step)  # a no-op without a default writer
    eval_loss, metrics = evaluate(model, project, eval_data, eval_steps, label_std)
    for name, value in {"loss": eval_loss, **metrics}.items():
        tf.summary.scalar(f"eval/{name}", value, step=train_steps)
    return TrainingLog(project.task.value, losses, eval_loss, metrics)


def logged_steps(train_steps: int) -> list[int]:
    """The steps whose loss is logged: the first, every LOG_EVERY-th and the last."""
    if train_steps < 1:
        return []  # no step, as the per-step loop ran none
    return sorted({1, *range(LOG_EVERY, train_steps + 1, LOG_EVERY), train_steps})


def repeated(step: Any) -> Any:
    """A graph function running `step` (which reads its own batch) `count` times; the last value."""

    @tf.function(autograph=False)
    def run(count: tf.Tensor) -> tf.Tensor:
        def body(index: tf.Tensor, _: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            return index + 1, tf.cast(step(), tf.float32)

        return tf.while_loop(lambda index, _: index < count, body,
                             (tf.constant(0), tf.constant(0.0)))[1]

    return run


def evaluate(
    model: tf.keras.Model, project: Project, data: tf.data.Dataset, steps: int, label_std: float = 1.0
) -> tuple[float, dict[str, float]]:
    """Weighted loss and the task's metrics over `steps` batches (regression errors unscaled)."""
    loss = tf.keras.metrics.Mean()
    loss_fn = loss_function(project, reduction="none")
    metrics: dict[str, tf.keras.metrics.Metric] = {
        Task.BINARY: {"auc": tf.keras.metrics.AUC(), "accuracy": tf.keras.metrics.BinaryAccuracy()},
        Task.MULTICLASS: {"accuracy": tf.keras.metrics.SparseCategoricalAccuracy()},
        Task.REGRESSION: {"rmse": tf.keras.metrics.RootMeanSquaredError(),
                          "mae": tf.keras.metrics.MeanAbsoluteError()},
    }[project.task]

    def eval_step(inputs: dict, label: tf.Tensor, weight: tf.Tensor) -> tf.Tensor:
        output = model(inputs, training=False)
        flat_weight = tf.reshape(weight, [-1])
        updates = [loss.update_state(loss_fn(label, output), sample_weight=flat_weight)]
        updates += [metric.update_state(label, output, sample_weight=flat_weight)
                    for metric in metrics.values()]
        with tf.control_dependencies([u for u in updates if u is not None]):
            return tf.constant(0.0)

    batches = iter(data)
    if steps > 0:
        repeated(lambda: eval_step(*batches.get_next()))(tf.constant(steps))
    scale = label_std if project.task is Task.REGRESSION else 1.0
    return float(loss.result()), {name: float(m.result()) * scale for name, m in metrics.items()}


def split_batch(project: Project, batch: Mapping[str, tf.Tensor], label: tf.Tensor) -> tuple:
    """Transformed batch to (model inputs, label [batch, 1], weight [batch, 1])."""
    model_inputs = {name: batch[name] for name in features.model_input_names(project)}
    dtype = tf.int64 if project.task is Task.MULTICLASS else tf.float32
    column = [-1, 1]
    return (model_inputs, tf.reshape(tf.cast(label, dtype), column),
            tf.reshape(tf.cast(batch[vocabulary.WEIGHT_KEY], tf.float32), column))


def transformed_batches(
    file_pattern: list[str],
    data_accessor: DataAccessor,
    tf_transform_output: tft.TFTransformOutput,
    project: Project,
    batch_size: int,
    seed: int,
) -> tf.data.Dataset:
    """Transformed examples as (features, training label) batches, shuffled with a fixed seed."""
    return data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(
            batch_size=batch_size, label_key=features.training_label_key(project), shuffle_seed=seed),
        tf_transform_output.transformed_metadata.schema,
    )


def input_dataset(project: Project, batches: tf.data.Dataset) -> tf.data.Dataset:
    """(inputs, label, weight) batches the training loop reads."""
    return batches.map(lambda batch, label: split_batch(project, batch, label),
                       num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def label_std(project: Project, batches: tf.data.Dataset) -> float:
    """Regression: the target's standard deviation Transform computed (read from one batch)."""
    if project.task is not Task.REGRESSION:
        return 1.0
    batch, _ = next(iter(batches))
    return float(tf.reshape(batch[vocabulary.LABEL_STD_KEY], [-1])[0])


# --- the decision threshold (binary) -------------------------------------------------------------

def one_pass(file_pattern: list[str], data_accessor: DataAccessor,
             tf_transform_output: tft.TFTransformOutput, project: Project) -> tf.data.Dataset:
    """(inputs, label, weight) batches of a split read once, in file order, unshuffled."""
    batches = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=THRESHOLD_BATCH, shuffle=False, num_epochs=1,
                                       label_key=features.training_label_key(project)),
        tf_transform_output.transformed_metadata.schema,
    )
    return input_dataset(project, batches)


def split_scores(model: tf.keras.Model, data: tf.data.Dataset) -> tuple[Any, Any, Any]:
    """The model's positive-class scores, the labels and the weights of up to THRESHOLD_ROWS rows."""
    import numpy as np

    parts: list[tuple[Any, Any, Any]] = []
    for inputs, label, weight in data.take(-(-THRESHOLD_ROWS // THRESHOLD_BATCH)):
        parts.append((model(inputs, training=False).numpy(), label.numpy(), weight.numpy()))
    if not parts:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    return tuple(np.concatenate([p[i].reshape(-1) for p in parts]) for i in range(3))  # type: ignore[return-value]


def choose_threshold(model: tf.keras.Model, declared: ThresholdDeclaration, train_data: tf.data.Dataset,
                     eval_data: tf.data.Dataset) -> vocabulary.DecisionThreshold:
    """The declared rule's cut on the training split's scores, with precision and recall at it
    there and on the eval split."""
    import numpy as np

    train = split_scores(model, train_data)
    chosen = decision_threshold.choose(declared, *train)
    evaluated = split_scores(model, eval_data)
    checked = decision_threshold.at(chosen.threshold, *evaluated)
    return vocabulary.DecisionThreshold(
        threshold=chosen.threshold, rule=declared.rule.value, value=declared.value,
        train_precision=chosen.precision, train_recall=chosen.recall,
        train_rows=int(np.count_nonzero(train[2] > 0)), eval_precision=checked.precision,
        eval_recall=checked.recall, eval_rows=int(np.count_nonzero(evaluated[2] > 0)),
        reached=chosen.reached)


def write_threshold(record: vocabulary.DecisionThreshold, serving_model_dir: str) -> None:
    """The threshold in the exported model's assets.extra, which TF Serving ignores and pushes keep."""
    folder = f"{serving_model_dir}/{vocabulary.EXTRA_ASSETS_DIR}"
    tf.io.gfile.makedirs(folder)
    with tf.io.gfile.GFile(f"{folder}/{vocabulary.DECISION_THRESHOLD_FILE}", "w") as handle:
        handle.write(record.to_json())


def record_threshold(fn_args: FnArgs, model: tf.keras.Model,
                     tf_transform_output: tft.TFTransformOutput, project: Project) -> None:
    """Choose the declared cut (custom_config["decision_threshold"]) and write it beside the model."""
    declared = threshold_declaration((fn_args.custom_config or {}).get("decision_threshold"))
    train, evaluated = (one_pass(files, fn_args.data_accessor, tf_transform_output, project)
                        for files in (fn_args.train_files, fn_args.eval_files))
    write_threshold(choose_threshold(model, declared, train, evaluated), fn_args.serving_model_dir)


# --- export --------------------------------------------------------------------------------------

def _serving_feature_spec(project: Project, tf_transform_output: tft.TFTransformOutput) -> dict[str, Any]:
    """Raw feature spec restricted to the declared features (no label, weight or other columns)."""
    spec = tf_transform_output.raw_feature_spec()
    return {key: spec[key] for key in project.feature_names}


def predict(project: Project, model: tf.keras.Model, tft_layer: tf.keras.layers.Layer,
            raw: dict[str, TensorLike]) -> dict[str, tf.Tensor]:
    """Apply the Transform graph and the network to raw features; the task's named outputs."""
    transformed = tft_layer(raw)
    output = model({name: transformed[name] for name in features.model_input_names(project)})
    if project.task is Task.BINARY:
        return {vocabulary.PROBABILITIES_OUTPUT: output}
    if project.task is Task.MULTICLASS:
        names = tf.constant(list(project.classes))
        return {vocabulary.PROBABILITIES_OUTPUT: output,
                vocabulary.CLASSES_OUTPUT: tf.gather(names, tf.argmax(output, axis=1))}
    column = [-1, 1]
    mean = tf.reshape(transformed[vocabulary.LABEL_MEAN_KEY], column)
    std = tf.reshape(transformed[vocabulary.LABEL_STD_KEY], column)
    return {vocabulary.PREDICTION_OUTPUT: output * std + mean}


def _raw_to_parsed(value: tf.Tensor, spec: Any) -> TensorLike:
    """Shape a [batch] tensor the way tf.io.parse_example would give it for this spec."""
    if isinstance(spec, tf.io.VarLenFeature):
        return _all_present(tf.reshape(value, [-1, 1]))
    return tf.reshape(value, [-1, *spec.shape])  # FixedLenFeature: [] or [1]


def _all_present(column: tf.Tensor) -> tf.SparseTensor:
    """A sparse tensor with every row present (from_dense would drop empty strings)."""
    rows = tf.range(tf.shape(column, out_type=tf.int64)[0])
    indices = tf.stack([rows, tf.zeros_like(rows)], axis=1)
    return tf.SparseTensor(indices, tf.reshape(column, [-1]), tf.shape(column, out_type=tf.int64))


def _parsed_specs(spec: dict[str, Any]) -> dict[str, tf.TypeSpec]:
    """What tf.io.parse_example gives for each feature of `spec`, any batch size."""
    return {key: tf.SparseTensorSpec([None, None], feature.dtype)
            if isinstance(feature, tf.io.VarLenFeature)
            else tf.TensorSpec([None, *feature.shape], feature.dtype)
            for key, feature in spec.items()}


def signatures(project: Project, model: tf.keras.Model, tft_layer: tf.keras.layers.Layer,
               tf_transform_output: tft.TFTransformOutput) -> dict:
    """serving_default (tf.Example), serving_raw (named tensors) and transform_features (TFMA)."""
    serving_spec = _serving_feature_spec(project, tf_transform_output)
    full_spec = tf_transform_output.raw_feature_spec()
    serialized = [tf.TensorSpec([None], tf.string, name=vocabulary.SERVING_INPUT)]

    # Both serving signatures call this one function: the Transform graph and the network are
    # traced once for the two (each trace of the TF1 Transform graph costs about half a second).
    @tf.function(input_signature=[_parsed_specs(serving_spec)], autograph=False)
    def transform_and_predict(raw: dict[str, TensorLike]) -> dict[str, tf.Tensor]:
        return predict(project, model, tft_layer, raw)

    @tf.function(input_signature=serialized, autograph=False)
    def serve_examples(examples: tf.Tensor) -> dict[str, tf.Tensor]:
        return transform_and_predict(tf.io.parse_example(examples, serving_spec))

    raw_specs = [tf.TensorSpec([None], spec.dtype, name=key) for key, spec in serving_spec.items()]

    @tf.function(input_signature=raw_specs, autograph=False)
    def serve_raw(*columns: tf.Tensor) -> dict[str, tf.Tensor]:
        raw = {key: _raw_to_parsed(column, serving_spec[key])
               for key, column in zip(serving_spec, columns, strict=True)}
        return transform_and_predict(raw)

    @tf.function(input_signature=serialized, autograph=False)
    def transform_features(examples: tf.Tensor) -> dict[str, tf.Tensor]:
        return tft_layer(tf.io.parse_example(examples, full_spec))

    return {vocabulary.SERVING_SIGNATURE: serve_examples, vocabulary.RAW_SIGNATURE: serve_raw,
            vocabulary.TRANSFORM_SIGNATURE: transform_features}


class ServingModule(tf.Module):
    """What gets exported: the network's variables, the Transform graph's resources and the signatures.

    Neither Keras object is saved itself: saving a Keras model traces its call again with AutoGraph
    for a Keras reload path that neither TF Serving nor the Evaluator uses (about 8 s of CPU for
    the network; 4.8 s of a 5.9 s save for the Transform layer, a Keras Model too).
    """

    def __init__(self, model: tf.keras.Model, tft_layer: tf.keras.layers.Layer) -> None:
        super().__init__()
        self.model_variables = list(model.variables)
        self.transform_resources = _transform_resources(tft_layer)


def _transform_resources(tft_layer: tf.keras.layers.Layer) -> object:
    """The loaded Transform graph the signatures capture (tables, assets), as tf.Transform's layer
    tracks it; the layer itself where a tf.Transform version tracks it otherwise."""
    return getattr(tft_layer, "_saved_model_loader_tracked_dict", tft_layer)


def export(project: Project, model: tf.keras.Model, tf_transform_output: tft.TFTransformOutput,
           path: str) -> None:
    """Write the SavedModel TF Serving and the Evaluator load."""
    tft_layer = tf_transform_output.transform_features_layer()
    tf.saved_model.save(ServingModule(model, tft_layer), path,
                        signatures=signatures(project, model, tft_layer, tf_transform_output))


def run_fn(fn_args: FnArgs) -> None:
    """Train the declared project's network with sample weights, then export its three signatures."""
    _require_legacy_keras()
    project = project_from_config(fn_args.custom_config)
    hparams = Hyperparameters.from_custom_config(fn_args.custom_config)
    tf.keras.utils.set_random_seed(hparams.seed)
    # Same inputs, same weights: reproducible runs compare eval metrics to 1e-6.
    tf.config.experimental.enable_op_determinism()
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)

    def batches(files: list[str]) -> tf.data.Dataset:
        return transformed_batches(files, fn_args.data_accessor, tf_transform_output, project,
                                   hparams.batch_size, hparams.seed)

    train_batches, eval_batches = batches(fn_args.train_files), batches(fn_args.eval_files)
    model = build_model(project, hparams)
    tf.io.gfile.makedirs(fn_args.model_run_dir)
    # TensorBoard summaries beside the training log: `tensorboard --logdir <model_run_dir>`.
    with tf.summary.create_file_writer(fn_args.model_run_dir).as_default():
        log = train(model, project, input_dataset(project, train_batches),
                    input_dataset(project, eval_batches), hparams, fn_args.train_steps,
                    fn_args.eval_steps, label_std(project, eval_batches))
    with tf.io.gfile.GFile(f"{fn_args.model_run_dir}/{vocabulary.TRAINING_LOG_FILE}", "w") as handle:
        json.dump(dataclasses.asdict(log), handle, indent=2)
    export(project, model, tf_transform_output, fn_args.serving_model_dir)
    if project.task is Task.BINARY:
        record_threshold(fn_args, model, tf_transform_output, project)
