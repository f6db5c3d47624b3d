"""The Evaluator names the models' TFMA type without loading them: the type TFMA's own check (a
Keras load) gives, and the evaluation TFMA's own executor writes (metrics, validation, blessing)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.unit.graph.test_recorded_baseline import (
    BASELINE_WEIGHTS,
    BETTER,
    artifact,
    failures,
    metrics,
    project,
    save_model,
    write_examples,
)

# Saves SavedModels and runs TFMA's Beam pipeline on 300 rows: `make test-unit` skips it.
pytestmark = pytest.mark.slow


def save_keras(path: Path) -> None:
    """A Keras model saved by Keras (SavedModel format, keras_metadata.pb beside it)."""
    import tensorflow as tf

    model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(2,))])
    model.save(str(path), save_format="tf")


def save_module_holding_keras(path: Path) -> None:
    """A tf.Module that tracks a Keras model: Keras objects in its object graph, a generic root."""
    import tensorflow as tf

    module = tf.Module()
    module.net = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(2,))])
    module.serve = tf.function(lambda x: module.net(x),
                               input_signature=[tf.TensorSpec([None, 2], tf.float32)])
    tf.saved_model.save(module, str(path))


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One SavedModel of each kind: the platform's export (a tf.Module), Keras, and a module with Keras."""
    root = tmp_path_factory.mktemp("types")
    save_model(root / "module", BASELINE_WEIGHTS)
    save_keras(root / "keras")
    save_module_holding_keras(root / "mixed")
    return {"module": root / "module" / "Format-Serving", "keras": root / "keras",
            "mixed": root / "mixed"}


@pytest.mark.parametrize("kind, read", [("module", True), ("keras", False), ("mixed", False)])
def test_a_type_is_read_only_where_tfma_would_find_tf_generic(
        saved: dict[str, Path], kind: str, read: bool) -> None:
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis import constants

    from pipeline.graph.model_type import has_no_keras_object

    tfmas = tfma.utils.get_model_type(tfma.ModelSpec(), str(saved[kind]))
    assert has_no_keras_object(str(saved[kind])) is read
    if read:
        assert tfmas == constants.TF_GENERIC
    assert (tfmas == constants.TF_KERAS) is (kind == "keras")


def test_specs_are_typed_only_when_every_model_is_read(saved: dict[str, Path]) -> None:
    import tensorflow_model_analysis as tfma
    from tfx.types import standard_artifacts

    from pipeline.graph.model_type import with_model_types

    module = artifact(standard_artifacts.Model, saved["module"].parent, 1)
    keras = artifact(standard_artifacts.Model, saved["keras"], 2)
    keras.uri = str(saved["keras"])
    os.makedirs(saved["keras"] / "Format-Serving", exist_ok=True)
    typed = tfma.EvalConfig(model_specs=[tfma.ModelSpec(), tfma.ModelSpec(model_type="tf_keras")])
    assert with_model_types(typed, [module])
    assert [s.model_type for s in typed.model_specs] == ["tf_generic", "tf_keras"]
    untouched = tfma.EvalConfig(model_specs=[tfma.ModelSpec()])
    assert not with_model_types(untouched, [module, keras])
    assert untouched.model_specs[0].model_type == ""


def test_the_typed_evaluation_is_tfmas(tmp_path: Path) -> None:
    import tensorflow_model_analysis as tfma
    from tfx.components.evaluator import executor as tfx_executor
    from tfx.types import artifact_utils, standard_artifacts
    from tfx.types import standard_component_specs as specs
    from tfx.utils import proto_utils

    from pipeline.config.project import METRICS_TOLERANCE
    from pipeline.graph.eval_config import eval_config
    from pipeline.graph.evaluator import SelfBaselineSkippingExecutor

    examples = artifact(standard_artifacts.Examples, write_examples(tmp_path / "examples"), 5)
    examples.split_names = artifact_utils.encode_split_names(["eval"])
    models = {}
    for number, (name, weights) in enumerate([("baseline", BASELINE_WEIGHTS), ("better", BETTER)]):
        save_model(tmp_path / name, weights)
        models[name] = artifact(standard_artifacts.Model, tmp_path / name, number + 1)
    config = proto_utils.proto_to_json(eval_config(project(), ()))
    outputs = {}
    for name, executor in [("tfx", tfx_executor.Executor()), ("ours", SelfBaselineSkippingExecutor())]:
        evaluation = artifact(standard_artifacts.ModelEvaluation, tmp_path / name / "evaluation", 0)
        blessing = artifact(standard_artifacts.ModelBlessing, tmp_path / name / "blessing", 0)
        os.makedirs(evaluation.uri), os.makedirs(blessing.uri)
        executor.Do({specs.EXAMPLES_KEY: [examples], specs.MODEL_KEY: [models["better"]],
                     specs.BASELINE_MODEL_KEY: [models["baseline"]]},
                    {specs.EVALUATION_KEY: [evaluation], specs.BLESSING_KEY: [blessing]},
                    {specs.EVAL_CONFIG_KEY: config})
        outputs[name] = (evaluation.uri, blessing)
    (ours_uri, ours), (tfx_uri, tfxs) = outputs["ours"], outputs["tfx"]
    ours_config = tfma.writers.eval_config_writer.load_eval_run(ours_uri)[0]
    assert [s.model_type for s in ours_config.model_specs] == ["tf_generic", "tf_generic"]
    assert ours.get_int_custom_property("blessed") == tfxs.get_int_custom_property("blessed") == 1
    assert sorted(os.listdir(ours.uri)) == sorted(os.listdir(tfxs.uri))
    assert sorted(os.listdir(ours_uri)) == sorted([*os.listdir(tfx_uri), "evaluated_inputs.json"])
    mine, theirs = metrics(ours_uri), metrics(tfx_uri)
    assert mine.keys() == theirs.keys()
    for key, value in theirs.items():
        assert mine[key] == pytest.approx(value, abs=METRICS_TOLERANCE.abs, rel=METRICS_TOLERANCE.rel)
    ours_v, tfx_v = tfma.load_validation_result(ours_uri), tfma.load_validation_result(tfx_uri)
    assert ours_v.validation_ok == tfx_v.validation_ok
    assert failures(ours_v) == failures(tfx_v)
