"""Batch inference on Beam answers exactly what the SavedModel's serving signature answers in
process, row for row and in the rows' order, whatever the number of rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.scoring.inference import signature_outputs
from pipeline.serving.client import example_bytes
from pipeline.vocabulary import SERVING_SIGNATURE

pytestmark = pytest.mark.slow
TYPES = {"size": "DT_FLOAT", "color": "DT_STRING"}


def saved_model(folder: Path) -> Path:
    """A SavedModel whose serving signature parses tf.Examples (missing values defaulted), as a
    pushed model's does."""
    import tensorflow as tf

    class Model(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve(self, examples):
            parsed = tf.io.parse_example(examples, {
                "size": tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0]),
                "color": tf.io.FixedLenFeature([1], tf.string, default_value=[""])})
            logit = parsed["size"] * 0.37 - tf.cast(tf.strings.length(parsed["color"]), tf.float32)
            return {"probabilities": tf.sigmoid(logit), "scores": tf.concat([logit, -logit], 1),
                    "classes": tf.where(logit > 0, "big", "small"),
                    "prediction": tf.reshape(logit, [-1])}

    model = Model()
    tf.saved_model.save(model, str(folder), signatures={SERVING_SIGNATURE: model.serve})
    return folder


def rows(count: int) -> list[bytes]:
    """Examples with every kind of row: values, a missing number, a missing text."""
    colors = ["red", "blue", None, "green"]
    return [example_bytes({"size": None if i % 7 == 0 else i / 10, "color": colors[i % 4]}, TYPES)
            for i in range(count)]


@pytest.mark.parametrize("count", [1, 301])
def test_beam_scores_every_row_as_the_signature_does_in_order(tmp_path: Path, count: int) -> None:
    import tensorflow as tf

    model = saved_model(tmp_path / "model")
    examples = rows(count)
    direct = {name: value.numpy() for name, value in tf.saved_model.load(str(model)).signatures[
        SERVING_SIGNATURE](examples=tf.constant(examples)).items()}
    beam = signature_outputs(model, examples)
    assert len(beam) == count
    for name in ("probabilities", "scores", "prediction"):  # [n, 1], [n, 2] and [n] numbers
        assert np.allclose([row[name] for row in beam], direct[name].tolist(), rtol=1e-6, atol=0)
    assert [row["classes"] for row in beam] == [[v.decode()] for v in direct["classes"][:, 0]]
    assert len(set(direct["prediction"].round(6))) > count // 2  # rows differ: order counts


def test_natively_encoded_rows_parse_as_one_proto_a_row_does() -> None:
    import tensorflow as tf

    from pipeline.scoring.columns import columns_of_rows
    from pipeline.scoring.inputs import encode_columns

    colors = ["red", "blue", None, ""]
    rows = [{"size": None if i % 3 == 0 else i / 4, "color": colors[i % 4]} for i in range(12)]
    spec = {"size": tf.io.FixedLenFeature([1], tf.float32, default_value=[-1.0]),
            "color": tf.io.VarLenFeature(tf.string)}
    native = tf.io.parse_example(encode_columns(columns_of_rows(rows, TYPES), TYPES), spec)
    one_by_one = tf.io.parse_example([example_bytes(row, TYPES) for row in rows], spec)
    assert native["size"].numpy().tolist() == one_by_one["size"].numpy().tolist()
    assert tf.sparse.to_dense(native["color"]).numpy().tolist() == tf.sparse.to_dense(
        one_by_one["color"]).numpy().tolist()
