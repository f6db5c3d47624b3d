"""The decision threshold of the session's shared taxi run (declared `max_f1`): recorded on the
model artifact in ML Metadata, beside the pushed version, in the run summary, and equal to the best
F1 cut of the pushed model's own scores on the training split, computed here by brute force."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from pipeline import vocabulary
from pipeline.__main__ import main
from pipeline.metadata import connection
from pipeline.mirror import run_view
from pipeline.run.console import format_summary
from pipeline.serving import layout
from pipeline.vocabulary import DecisionThreshold
from tests.support.run_records import runs_by_node

pytestmark = [pytest.mark.e2e, pytest.mark.taxi]


def _train_split(examples_uri: str) -> list[bytes]:
    """The raw tf.Examples of the run's train split."""
    files = sorted(glob.glob(os.path.join(examples_uri, vocabulary.split_folder("train"), "*")))
    return list(tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator())


def _best_f1_calls(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Which rows the cut with the best weighted F1 calls positive, trying every distinct score."""
    best, calls = -1.0, np.zeros_like(scores, dtype=bool)
    for cut in np.unique(scores[weights > 0]):
        called = scores >= cut
        tp = np.sum(weights * (called & (labels == 1)))
        f1 = 2 * tp / (np.sum(weights * called) + np.sum(weights * (labels == 1)))
        if f1 > best:
            best, calls = f1, called
    return calls


def test_the_threshold_is_recorded_with_the_model_and_is_the_best_f1_cut(
        shared_run, shared_config, capsys: pytest.CaptureFixture) -> None:
    summary = shared_run.summary
    recorded = summary.decision_threshold
    assert recorded is not None and recorded.rule == "max_f1" and recorded.reached
    assert 0 < recorded.threshold < 1 and recorded.train_rows > 0 and recorded.eval_rows > 0

    # In ML Metadata, on the Trainer's model artifact, read back from the store.
    nodes = runs_by_node(shared_config, summary.run_id)
    [model] = nodes[vocabulary.TRAINER].outputs[vocabulary.MODEL_KEY]
    text = model.custom_properties[vocabulary.DECISION_THRESHOLD_PROPERTY].string_value
    assert DecisionThreshold.from_json(text) == recorded
    # Beside the pushed version, where TF Serving ignores it.
    version_dir = Path(str(summary.pushed_path))
    assert layout.decision_threshold(version_dir) == recorded
    assert (version_dir / "saved_model.pb").is_file()

    # The pushed model's own scores of the train split: the recorded cut makes the best-F1 calls.
    [examples] = nodes[vocabulary.EXAMPLE_GEN].outputs[vocabulary.EXAMPLES_KEY]
    serialized = tf.constant(_train_split(examples.uri))
    loaded = tf.saved_model.load(str(version_dir))
    scores = loaded.signatures[vocabulary.SERVING_SIGNATURE](examples=serialized)[
        vocabulary.PROBABILITIES_OUTPUT].numpy().reshape(-1)
    transformed = loaded.signatures[vocabulary.TRANSFORM_SIGNATURE](examples=serialized)
    project = shared_config.declaration
    labels = transformed[vocabulary.label_key(project.label)].numpy().reshape(-1)
    weights = transformed[vocabulary.WEIGHT_KEY].numpy().reshape(-1)
    assert int(np.count_nonzero(weights > 0)) == recorded.train_rows
    kept = weights > 0
    expected = _best_f1_calls(scores, labels, weights)
    np.testing.assert_array_equal((scores >= recorded.threshold)[kept], expected[kept])

    line = next(line for line in format_summary(summary, project, "m.sqlite", None).splitlines()
                if line.startswith("threshold  "))
    assert line.startswith(f"threshold  {recorded.threshold:.4f} by max_f1 on "
                           f"{recorded.train_rows} training rows: precision ")
    # `lineage` of the version reads it from ML Metadata too.
    assert main(["lineage", "--version", str(summary.pushed_version), "--metadata",
                 str(shared_config.metadata_path), "--pipeline-name",
                 shared_config.pipeline_name]) == 0
    assert f"  threshold       {recorded.describe()}" in capsys.readouterr().out.splitlines()
    # And the MLflow view of the run.
    store = connection.open_metadata(shared_config)
    view = run_view.mirror_run(store, project, summary.run_id, "key")
    assert view.params["decision_threshold"] == recorded.describe()
