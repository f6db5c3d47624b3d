"""The Evaluator reuses the baseline's recorded evaluation: the candidate scored alone and compared
with the recorded metrics gives what TFMA's own two-model evaluation gives (blessing, validation,
both models' metrics and their diffs), for a better and for a worse candidate; anything else
recorded (other examples) falls back to TFMA's comparison."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from pipeline.config.project import Feature, Project, Task, Treatment
from pipeline.graph.eval_config import eval_config

# Saves SavedModels and runs TFMA's Beam pipeline on 300 rows: `make test-unit` skips it.
pytestmark = pytest.mark.slow

ROWS = 300
# The rows' label leans on both inputs: (1, .5) is the best model, (1, 0) a fair one, (0, 1) worse.
BASELINE_WEIGHTS, BETTER, WORSE = (1.0, 0.0), (1.0, 0.5), (0.0, 1.0)


def project() -> Project:
    return Project(name="p", data="d", label="y", task=Task.BINARY, classes=("no", "yes"),
                   positive_class="yes", slices=("s",),
                   features=(Feature("x1", Treatment.NUMERIC), Feature("x2", Treatment.NUMERIC)))


def write_examples(root: Path) -> str:
    """An eval split of tf.Examples (x1, x2, a slice column s, label y) under root."""
    import tensorflow as tf

    rng = np.random.default_rng(7)
    x1, x2, noise = rng.normal(size=(3, ROWS))
    labels = (x1 + 0.5 * x2 + 0.7 * noise > 0).astype(int)
    folder = root / "Split-eval"
    folder.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(folder / "data_tfrecord-00000-of-00001.gz"), "GZIP") as writer:
        for i in range(ROWS):
            feature = {"x1": tf.train.Feature(float_list=tf.train.FloatList(value=[x1[i]])),
                       "x2": tf.train.Feature(float_list=tf.train.FloatList(value=[x2[i]])),
                       "s": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"ab"[i % 2:i % 2 + 1]])),
                       "y": tf.train.Feature(int64_list=tf.train.Int64List(value=[labels[i]]))}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return str(root)


def save_model(uri: Path, weights: tuple[float, float]) -> None:
    """A SavedModel with the two signatures the eval config names (serving and transform)."""
    import tensorflow as tf

    spec = tf.TensorSpec([None], tf.string, name="examples")
    parsing = {name: tf.io.FixedLenFeature([1], tf.float32) for name in ("x1", "x2")}

    class Scorer(tf.Module):
        @tf.function(input_signature=[spec])
        def serve(self, examples: tf.Tensor) -> dict:
            f = tf.io.parse_example(examples, parsing)
            return {"probabilities": tf.sigmoid(weights[0] * f["x1"] + weights[1] * f["x2"])}

        @tf.function(input_signature=[spec])
        def transform(self, examples: tf.Tensor) -> dict:
            f = tf.io.parse_example(examples, {"y": tf.io.FixedLenFeature([1], tf.int64)})
            label = tf.cast(f["y"], tf.float32)
            return {"y_xf": label, "example_weight_xf": tf.ones_like(label)}

    scorer = Scorer()
    tf.saved_model.save(scorer, str(uri / "Format-Serving"),
                        signatures={"serving_default": scorer.serve, "transform_features": scorer.transform})


def artifact(kind: type, uri: str | Path, artifact_id: int) -> object:
    made = kind()
    made.uri, made.id = str(uri), artifact_id
    return made


def evaluate(examples: object, model: object, baseline: object | None, out: Path) -> tuple:
    """Run our Evaluator executor; its blessing and the evaluation folder."""
    from tfx.types import artifact_utils, standard_artifacts
    from tfx.types import standard_component_specs as specs
    from tfx.utils import proto_utils

    from pipeline.graph.evaluator import SelfBaselineSkippingExecutor

    out.mkdir(parents=True)
    blessing = artifact(standard_artifacts.ModelBlessing, str(out).replace("evaluation", "blessing"), 0)
    os.makedirs(blessing.uri)
    evaluation = artifact(standard_artifacts.ModelEvaluation, out, 0)
    examples.split_names = artifact_utils.encode_split_names(["eval"])
    inputs = {specs.EXAMPLES_KEY: [examples], specs.MODEL_KEY: [model]}
    if baseline is not None:
        inputs[specs.BASELINE_MODEL_KEY] = [baseline]
    SelfBaselineSkippingExecutor().Do(
        inputs, {specs.EVALUATION_KEY: [evaluation], specs.BLESSING_KEY: [blessing]},
        {specs.EVAL_CONFIG_KEY: proto_utils.proto_to_json(eval_config(project(), ()))})
    return blessing, str(out)


def metrics(evaluation_uri: str) -> dict:
    """Every (slice, metric key) -> value of an evaluation."""
    from tensorflow_model_analysis.writers import metrics_plots_and_validations_writer as writer

    return {(m.slice_key.SerializeToString(), kv.key.SerializeToString()): kv.value.double_value.value
            for m in writer.load_and_deserialize_metrics(evaluation_uri)
            for kv in m.metric_keys_and_values}


def failures(result: object) -> list[bytes]:
    """The failing metric keys of a ValidationResult, in a stable order."""
    return sorted(f.metric_key.SerializeToString()
                  for s in result.metric_validations_per_slice for f in s.failures)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Examples, three models, and the baseline's own evaluation as a candidate (recorded)."""
    from tfx.types import standard_artifacts

    root = tmp_path_factory.mktemp("reuse")
    examples = artifact(standard_artifacts.Examples, write_examples(root / "examples"), 5)
    models = {}
    for number, (name, weights) in enumerate(
            [("baseline", BASELINE_WEIGHTS), ("better", BETTER), ("worse", WORSE)], start=1):
        save_model(root / name, weights)
        models[name] = artifact(standard_artifacts.Model, root / name, number)
    evaluate(examples, models["baseline"], None, root / "Evaluator" / "evaluation" / "10")
    return {"root": root, "examples": examples, "models": models}


@pytest.mark.parametrize("candidate, blessed", [("better", 1), ("worse", 0)])
def test_the_reused_comparison_is_tfmas(scene: dict, candidate: str, blessed: int) -> None:
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.writers.eval_config_writer import load_eval_run

    from pipeline.config.project import METRICS_TOLERANCE
    from pipeline.vocabulary import BLESSING_REUSED_EVALUATION

    root, models = scene["root"], scene["models"]
    reused, reused_uri = evaluate(scene["examples"], models[candidate], models["baseline"],
                                  root / "Evaluator" / "evaluation" / f"2{blessed}")
    own, own_uri = evaluate(scene["examples"], models[candidate], models["baseline"],
                            root / f"alone-{candidate}" / "Evaluator" / "evaluation" / "20")
    assert reused.get_string_custom_property(BLESSING_REUSED_EVALUATION) == str(
        root / "Evaluator" / "evaluation" / "10")
    assert not own.has_custom_property(BLESSING_REUSED_EVALUATION)
    assert reused.get_int_custom_property("blessed") == own.get_int_custom_property("blessed") == blessed
    assert os.listdir(reused.uri) == os.listdir(own.uri)
    ours, theirs = metrics(reused_uri), metrics(own_uri)
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value, abs=METRICS_TOLERANCE.abs, rel=METRICS_TOLERANCE.rel)
    ours_v, theirs_v = tfma.load_validation_result(reused_uri), tfma.load_validation_result(own_uri)
    assert ours_v.validation_ok == theirs_v.validation_ok == bool(blessed)
    assert failures(ours_v) == failures(theirs_v)
    assert load_eval_run(reused_uri)[0] == load_eval_run(own_uri)[0]


def test_other_examples_fall_back_to_tfmas_comparison(scene: dict) -> None:
    from tfx.types import standard_artifacts

    from pipeline.vocabulary import BLESSING_REUSED_EVALUATION

    other = artifact(standard_artifacts.Examples, scene["examples"].uri, 6)
    blessing, _ = evaluate(other, scene["models"]["better"], scene["models"]["baseline"],
                           scene["root"] / "Evaluator" / "evaluation" / "30")
    assert not blessing.has_custom_property(BLESSING_REUSED_EVALUATION)
    assert blessing.get_int_custom_property("blessed") == 1
