"""The declaration-driven preprocessing_fn and run_fn, for a binary, a multiclass and a regression task.

One tft_beam run on 20 rows computes every task's outputs (the features are shared; each task adds
its label and weight), and its Transform graph then serves the three models run_fn trains and exports.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import metadata_io
from tfx import v1 as tfx

from models.common import features, model, preprocessing
from pipeline import vocabulary
from pipeline.config.project import Feature, Project, Task, Treatment

# Runs TensorFlow, Transform or Beam: `make test-unit` skips it, `make test` runs it.
pytestmark = pytest.mark.slow

FEATURES = (
    Feature("age", Treatment.NUMERIC, buckets=4),
    Feature("rooms", Treatment.BUCKETIZED, buckets=3),
    Feature("hour", Treatment.CATEGORICAL, max_value=24),
    Feature("city", Treatment.VOCABULARY, top_k=3, oov_buckets=2),
    Feature("zip", Treatment.VOCABULARY, top_k=5, oov_buckets=1),
    Feature("user", Treatment.HASHED, buckets=7),
)
BINARY = Project(name="churn", data="-", label="churned", task=Task.BINARY, features=FEATURES,
                 classes=("no", "yes"), positive_class="yes", weight="w")
BINARY_INT = Project(name="vip", data="-", label="vip", task=Task.BINARY, features=FEATURES,
                     classes=("0", "1"), positive_class="1")
MULTICLASS = Project(name="species", data="-", label="species", task=Task.MULTICLASS,
                     features=FEATURES, classes=("a", "b", "c"))
REGRESSION = Project(name="price", data="-", label="price", task=Task.REGRESSION, features=FEATURES)
PROJECTS = {p.task: p for p in (BINARY, MULTICLASS, REGRESSION)}

SPEC = {
    "age": tf.io.VarLenFeature(tf.float32), "rooms": tf.io.FixedLenFeature([], tf.int64),
    "hour": tf.io.VarLenFeature(tf.int64), "city": tf.io.VarLenFeature(tf.string),
    "zip": tf.io.VarLenFeature(tf.int64), "user": tf.io.VarLenFeature(tf.string),
    "churned": tf.io.VarLenFeature(tf.string), "vip": tf.io.VarLenFeature(tf.int64),
    "species": tf.io.VarLenFeature(tf.string), "price": tf.io.VarLenFeature(tf.float32),
    "w": tf.io.VarLenFeature(tf.float32),
}
CITIES = ["Oslo"] * 8 + ["Rome"] * 6 + ["Lima"] * 4 + ["Paris", None]
SPECIES = {"Oslo": "a", "Rome": "b", "Lima": "c", "Paris": "z", None: "a"}


def raw_rows() -> list[dict[str, object]]:
    """20 rows: churned when hour >= 12, species by city, price = 100 + 10 * age; a few gaps."""
    rows = []
    for i, city in enumerate(CITIES):
        age, hour = 20.0 + i, (i * 5) % 24
        row = {"age": [age], "rooms": i % 5, "hour": [hour], "city": [city] if city else [],
               "zip": [1000 + i % 3], "user": [f"u{i}"], "churned": ["yes" if hour >= 12 else "no"],
               "vip": [i % 2], "species": [SPECIES[city]], "price": [100.0 + 10 * age], "w": [1.0]}
        rows.append(row)
    rows[0]["age"] = []        # missing number: the mean of the others, z-score 0
    rows[1]["hour"] = [99]     # out of range: clipped to 23
    rows[2]["hour"] = []       # missing id: 0
    rows[3].update(churned=[], vip=[], price=[])  # missing labels: weight 0
    rows[4]["w"] = [2.0]       # declared weight multiplies in
    return [{k: [x.encode() if isinstance(x, str) else x for x in v] if isinstance(v, list) else v
             for k, v in row.items()} for row in rows]


def combined_preprocessing_fn(inputs: dict) -> dict:
    """The binary project's preprocessing_fn plus the other tasks' labels (weights renamed)."""
    outputs = preprocessing.preprocessing_fn(inputs, {"project": BINARY.to_dict()})
    for project in (BINARY_INT, MULTICLASS, REGRESSION):
        for key, value in preprocessing.label_outputs(inputs, project).items():
            outputs[f"{project.name}_{key}" if key == vocabulary.WEIGHT_KEY else key] = value
    return outputs


def analyze_and_transform(temp: Path, tf_compat_v1: bool) -> tuple[list[dict], str]:
    """Transformed rows and the written Transform graph directory, in one of tf.Transform's modes."""
    metadata = tft.DatasetMetadata.from_feature_spec(SPEC)
    with tft_beam.Context(temp_dir=str(temp / "tmp"), force_tf_compat_v1=tf_compat_v1):
        (rows, _), transform_fn = (raw_rows(), metadata) | tft_beam.AnalyzeAndTransformDataset(
            combined_preprocessing_fn, output_record_batches=False)
        _ = transform_fn | tft_beam.WriteTransformFn(str(temp / "transform"))
    # As Transform writes it: the raw schema beside the graph, for the serving feature spec.
    metadata_io.write_metadata(metadata, str(temp / "transform" / tft.TFTransformOutput.RAW_METADATA_DIR))
    return [{k: np.ravel(v)[0] for k, v in row.items()} for row in rows], str(temp / "transform")


@pytest.fixture(scope="module")
def transformed(tmp_path_factory) -> tuple[list[dict], str]:
    """The pipeline's default: the TF1 graph (PipelineConfig.transform_tf2 off)."""
    return analyze_and_transform(tmp_path_factory.mktemp("tft"), tf_compat_v1=True)


def column(rows: list[dict], key: str) -> list:
    return [row[key] for row in rows]


# --- preprocessing -------------------------------------------------------------------------------

def test_binary_label_is_the_positive_class_and_missing_labels_weigh_nothing(transformed) -> None:
    rows, _ = transformed
    hours = [(i * 5) % 24 for i in range(20)]
    expected = [int(h >= 12) for h in hours]
    expected[3] = 0
    assert column(rows, "churned_xf") == expected
    weights = [1.0] * 20
    weights[3], weights[4] = 0.0, 2.0
    assert column(rows, vocabulary.WEIGHT_KEY) == weights
    assert column(rows, "vip_xf") == [i % 2 if i != 3 else 0 for i in range(20)]  # int label, as strings
    assert column(rows, f"vip_{vocabulary.WEIGHT_KEY}")[3] == 0.0


def test_multiclass_label_is_the_class_index_and_unknown_classes_weigh_nothing(transformed) -> None:
    rows, _ = transformed
    expected = [{"a": 0, "b": 1, "c": 2, "z": 0}[SPECIES[c]] for c in CITIES]
    assert column(rows, "species_xf") == expected
    weights = column(rows, f"species_{vocabulary.WEIGHT_KEY}")
    assert weights == [0.0 if c == "Paris" else 1.0 for c in CITIES]


def test_regression_keeps_the_raw_target_and_trains_on_its_z_score(transformed) -> None:
    rows, _ = transformed
    prices = np.array([100.0 + 10 * (20 + i) for i in range(20)])
    known = np.arange(20) != 3
    mean, std = prices[known].mean(), prices[known].std()
    assert column(rows, "price_xf")[3] == 0.0
    np.testing.assert_allclose(np.array(column(rows, "price_xf"))[known], prices[known])
    np.testing.assert_allclose(np.array(column(rows, "price_scaled_xf"))[known],
                               (prices[known] - mean) / std, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(column(rows, vocabulary.LABEL_MEAN_KEY), mean, rtol=1e-5)
    np.testing.assert_allclose(column(rows, vocabulary.LABEL_STD_KEY), std, rtol=1e-4)
    assert column(rows, f"price_{vocabulary.WEIGHT_KEY}") == [float(k) for k in known]


def test_feature_treatments(transformed) -> None:
    rows, _ = transformed
    assert abs(rows[0]["age_xf"]) < 1e-5  # missing: filled with the mean
    assert all(0 <= b < 4 for b in column(rows, "age_bucket_xf"))
    assert all(0 <= b < 3 for b in column(rows, "rooms_xf"))
    hours = column(rows, "hour_xf")
    assert (hours[1], hours[2], hours[5]) == (23, 0, 1)
    cities = dict(zip(CITIES, column(rows, "city_xf"), strict=True))
    assert (cities["Oslo"], cities["Rome"], cities["Lima"]) == (0, 1, 2)  # most frequent first
    assert cities["Paris"] in (3, 4) and cities[None] in (3, 4)  # beyond top_k: OOV buckets
    assert all(0 <= z < 6 for z in column(rows, "zip_xf"))  # integers through a vocabulary
    users = tf.strings.to_hash_bucket_fast([f"u{i}" for i in range(20)], 7).numpy().tolist()
    assert column(rows, "user_xf") == users
    expected = set(features.transform_output_names(BINARY))
    assert expected <= set(rows[0])


def test_tf2_tracing_transforms_every_row_as_the_default_tf1_graph(transformed, tmp_path) -> None:
    """--transform-tf2 only changes how preprocessing_fn is traced, never a transformed value."""
    tf1_rows, _ = transformed
    tf2_rows, _ = analyze_and_transform(tmp_path, tf_compat_v1=False)
    assert [sorted(row) for row in tf2_rows] == [sorted(row) for row in tf1_rows]
    for tf1_row, tf2_row in zip(tf1_rows, tf2_rows, strict=True):
        for key, value in tf1_row.items():
            if isinstance(value, bytes):
                assert tf2_row[key] == value, key
            else:
                np.testing.assert_allclose(tf2_row[key], value, rtol=1e-6, err_msg=key)


def test_label_values_compare_as_strings() -> None:
    values = preprocessing.as_strings(tf.constant([1.0, 0.0, 2.5, -3.0]))
    assert values.numpy().tolist() == [b"1", b"0", b"2.500000", b"-3"]
    assert preprocessing.as_strings(tf.constant([7], tf.int64)).numpy().tolist() == [b"7"]


# --- the model -----------------------------------------------------------------------------------

class InMemoryAccessor:
    """A DataAccessor whose datasets are the transformed rows, as TFXIO would batch them."""

    def __init__(self, rows: list[dict]) -> None:
        self.columns = {key: np.array(column(rows, key)) for key in rows[0]}

    def tf_dataset_factory(self, files, options, schema) -> tf.data.Dataset:
        data = tf.data.Dataset.from_tensor_slices((self.columns, self.columns[options.label_key]))
        return data.shuffle(32, seed=options.shuffle_seed).repeat().batch(options.batch_size)


@pytest.fixture(scope="module", params=[Task.BINARY, Task.MULTICLASS, Task.REGRESSION],
                ids=lambda task: task.value)
def trained(request, transformed, tmp_path_factory) -> tuple[Project, str, dict]:
    """run_fn on the transformed rows: the project, the SavedModel directory and the training log."""
    rows, transform_dir = transformed
    project = PROJECTS[request.param]
    if project is not BINARY:  # this task's weight under the key run_fn reads
        weight = vocabulary.WEIGHT_KEY
        rows = [{**row, weight: row[f"{project.name}_{weight}"]} for row in rows]
    out = tmp_path_factory.mktemp(project.task.value)
    fn_args = tfx.components.FnArgs(
        train_files=["-"], eval_files=["-"], train_steps=40, eval_steps=2,
        transform_output=transform_dir, data_accessor=InMemoryAccessor(rows),
        serving_model_dir=str(out / "serving"), model_run_dir=str(out / "run"),
        custom_config={"project": project.to_dict(), "hyperparameters": {
            "batch_size": 10, "learning_rate": 0.05, "hidden_units": [8], "dropout": 0.0, "seed": 3}})
    try:
        model.run_fn(fn_args)
    finally:
        from tensorflow.python.framework import config

        config.disable_op_determinism()
    log = json.loads((out / "run" / vocabulary.TRAINING_LOG_FILE).read_text())
    return project, str(out / "serving"), log


def test_training_lowers_the_loss_and_logs_the_task_metrics(trained) -> None:
    project, _, log = trained
    assert log["task"] == project.task.value
    (first_step, first), (last_step, last) = log["train_loss"][0], log["train_loss"][-1]
    assert (first_step, last_step) == (1, 40)
    assert last < first
    names = {Task.BINARY: {"auc", "accuracy"}, Task.MULTICLASS: {"accuracy"},
             Task.REGRESSION: {"rmse", "mae"}}[project.task]
    assert set(log["eval_metrics"]) == names
    if project.task is Task.REGRESSION:
        assert log["eval_metrics"]["rmse"] < 50.0  # original units: prices span 200..390


def test_training_writes_tensorboard_summaries_beside_its_log(trained) -> None:
    from tensorflow.core.util import event_pb2

    _, serving_dir, log = trained
    scalars: dict[str, list[tuple[int, float]]] = {}
    for path in (Path(serving_dir).parent / "run").glob("events.out.tfevents.*"):
        for record in tf.data.TFRecordDataset(str(path)):
            event = event_pb2.Event.FromString(record.numpy())
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append(
                    (event.step, float(tf.make_ndarray(value.tensor))))
    assert [step for step, _ in scalars["train/loss"]] == [step for step, _ in log["train_loss"]]
    assert [v for _, v in scalars["train/loss"]] == pytest.approx([v for _, v in log["train_loss"]])
    assert scalars["eval/loss"] == [(40, pytest.approx(log["eval_loss"]))]


def serialized(rows: list[dict], project: Project) -> list[bytes]:
    """Raw rows as tf.Examples carrying only the declared features."""
    def value(values: list) -> tf.train.Feature:
        if values and isinstance(values[0], bytes):
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
        if values and isinstance(values[0], float):
            return tf.train.Feature(float_list=tf.train.FloatList(value=values))
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    return [tf.train.Example(features=tf.train.Features(feature={
        key: value(row[key] if isinstance(row[key], list) else [row[key]])
        for key in project.feature_names})).SerializeToString() for row in rows]


def test_both_serving_signatures_agree_with_the_task_outputs(trained) -> None:
    project, serving_dir, _ = trained
    rows = raw_rows()[5:12]  # complete rows: serving_raw has no way to say "missing"
    loaded = tf.saved_model.load(serving_dir)
    serve = loaded.signatures[vocabulary.SERVING_SIGNATURE]
    by_example = serve(examples=tf.constant(serialized(rows, project)))
    raw = {key: tf.constant([np.ravel(row[key])[0] for row in rows], dtype=SPEC[key].dtype)
           for key in project.feature_names}
    by_tensor = loaded.signatures[vocabulary.RAW_SIGNATURE](**raw)
    assert set(by_example) == set(by_tensor) == set(vocabulary.task_outputs(project.task))
    for key in by_example:
        if by_example[key].dtype == tf.string:
            assert by_example[key].numpy().tolist() == by_tensor[key].numpy().tolist()
        else:
            np.testing.assert_allclose(by_example[key].numpy(), by_tensor[key].numpy(), rtol=1e-5)
    n = len(rows)
    if project.task is Task.BINARY:
        assert by_example["probabilities"].shape == (n, 1)
    elif project.task is Task.MULTICLASS:
        probabilities = by_example["probabilities"].numpy()
        assert probabilities.shape == (n, 3)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
        names = [project.classes[i].encode() for i in probabilities.argmax(axis=1)]
        assert by_example["classes"].numpy().tolist() == names
    else:
        prediction = by_example["prediction"].numpy()
        assert prediction.shape == (n, 1)
        assert np.all((prediction > 150) & (prediction < 450))  # original units, not z-scores
    examples = tf.constant(serialized(rows, project))
    assert features.model_input_names(project)[0] in loaded.signatures[vocabulary.TRANSFORM_SIGNATURE](
        examples=examples)


def test_the_export_saves_no_keras_object(trained) -> None:
    """Only variables, the Transform graph's resources and the signatures: a saved Keras object
    would be traced again at export for a Keras reload nobody does (seconds per Trainer run)."""
    from tensorflow.core.protobuf import saved_model_pb2

    _, serving_dir, _ = trained
    saved = saved_model_pb2.SavedModel.FromString((Path(serving_dir) / "saved_model.pb").read_bytes())
    identifiers = {node.user_object.identifier for node in saved.meta_graphs[0].object_graph_def.nodes
                   if node.WhichOneof("kind") == "user_object"}
    assert not {i for i in identifiers if "keras" in i}, identifiers


def test_hyperparameters_come_from_the_project_then_custom_config() -> None:
    project = {"hyperparameters": {"batch_size": 64, "seed": 7}}
    hparams = model.Hyperparameters.from_custom_config(
        {"project": project, "hyperparameters": {"seed": 8, "hidden_units": [4]}})
    assert (hparams.batch_size, hparams.seed, hparams.hidden_units) == (64, 8, (4,))


@pytest.mark.parametrize("train_steps, logged", [
    (0, []), (1, [1]), (7, [1, 7]), (100, [1, 100]), (250, [1, 100, 200, 250]), (300, [1, 100, 200, 300])])
def test_the_loss_is_logged_at_the_first_every_hundredth_and_the_last_step(train_steps, logged) -> None:
    assert model.logged_steps(train_steps) == logged


def step_by_step(net: tf.keras.Model, project: Project, data: tf.data.Dataset, steps: int,
                 learning_rate: float) -> list[float]:
    """The training loop as it was before the graph loop: one traced call per step."""
    optimizer = tf.keras.optimizers.Adam(learning_rate)
    loss_fn = model.loss_function(project)

    @tf.function(autograph=False, reduce_retracing=True)
    def train_step(inputs: dict, label: tf.Tensor, weight: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = loss_fn(label, net(inputs, training=True), sample_weight=weight)
            loss += tf.add_n(net.losses) if net.losses else 0.0
        gradients = tape.gradient(loss, net.trainable_variables)
        optimizer.apply_gradients(zip(gradients, net.trainable_variables, strict=True))
        return loss

    batches = iter(data)
    return [float(train_step(*next(batches))) for _ in range(steps)]


@pytest.mark.parametrize("task", [Task.BINARY, Task.MULTICLASS, Task.REGRESSION], ids=lambda t: t.value)
def test_the_graph_loop_trains_exactly_as_one_call_per_step(task, transformed) -> None:
    """Same batches, same dropout masks, same updates: the same losses, weights and eval metrics, to
    float32 rounding (the graph optimizer may fuse the loop body's ops in another order)."""
    rows, transform_dir = transformed
    project = PROJECTS[task]
    if project is not BINARY:
        rows = [{**row, vocabulary.WEIGHT_KEY: row[f"{project.name}_{vocabulary.WEIGHT_KEY}"]}
                for row in rows]
    accessor = InMemoryAccessor(rows)
    output = tft.TFTransformOutput(transform_dir)
    hparams = model.Hyperparameters(batch_size=4, learning_rate=0.05, hidden_units=(8,), dropout=0.3,
                                    seed=5)

    def data() -> tf.data.Dataset:
        batches = model.transformed_batches(["-"], accessor, output, project, 4, hparams.seed)
        return model.input_dataset(project, batches)

    tf.config.experimental.enable_op_determinism()
    try:
        tf.keras.utils.set_random_seed(hparams.seed)
        looped = model.build_model(project, hparams)
        log = model.train(looped, project, data(), data(), hparams, 130, 3)
        tf.keras.utils.set_random_seed(hparams.seed)
        stepped = model.build_model(project, hparams)
        losses = step_by_step(stepped, project, data(), 130, hparams.learning_rate)
        expected_eval = model.evaluate(stepped, project, data(), 3)
    finally:
        from tensorflow.python.framework import config

        config.disable_op_determinism()
    assert [step for step, _ in log.train_loss] == [1, 100, 130]
    np.testing.assert_allclose([loss for _, loss in log.train_loss],
                               [losses[step - 1] for step in (1, 100, 130)], rtol=1e-5)
    for after_loop, after_steps in zip(looped.get_weights(), stepped.get_weights(), strict=True):
        np.testing.assert_allclose(after_loop, after_steps, rtol=1e-5, atol=1e-6)
    eval_loss, eval_metrics = expected_eval
    assert log.eval_loss == pytest.approx(eval_loss, rel=1e-5)
    assert log.eval_metrics == pytest.approx(eval_metrics, rel=1e-5)
