"""TF Serving warmup: PredictionLogs built from real rows, replayed by the server at load time."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from pipeline.errors import WorkFailed
from pipeline.vocabulary import EVAL_SPLIT, SERVING_INPUT, SERVING_SIGNATURE, split_folder

# The file name and folder TF Serving reads warmup records from (at most 1000 records).
WARMUP_FILE = "tf_serving_warmup_requests"
WARMUP_ROWS = 5


class WarmupError(WorkFailed):
    """No rows could be read for warmup; the message names the artifact folder."""


def read_serving_examples(
    examples_uri: str, client_features: Sequence[str], count: int = WARMUP_ROWS
) -> list[bytes]:
    """The first `count` tf.Examples of the eval split, keeping only what a client sends."""
    # The split the Evaluator scored the model on: warmup rows come from there.
    split_dir = os.path.join(examples_uri, split_folder(EVAL_SPLIT))
    names = tf.io.gfile.listdir(split_dir) if tf.io.gfile.isdir(split_dir) else []
    files = sorted(path for name in names
                   if not tf.io.gfile.isdir(path := os.path.join(split_dir, name)))
    if not files:
        raise WarmupError(f"no example files in {split_dir} to build warmup requests from")
    records = tf.data.TFRecordDataset(files, compression_type="GZIP").take(count)
    rows = [_client_features(tf.train.Example.FromString(r.numpy()), client_features)
            for r in records]
    if not rows:
        raise WarmupError(f"{split_dir} holds no examples to build warmup requests from")
    return [row.SerializeToString() for row in rows]


def _client_features(example: tf.train.Example, client_features: Sequence[str]) -> tf.train.Example:
    """Drop the label sources and other columns, as a live request would not carry them."""
    kept = tf.train.Example()
    for key in client_features:
        if key in example.features.feature:
            kept.features.feature[key].CopyFrom(example.features.feature[key])
    return kept


def predict_request(model_name: str, serialized: list[bytes]) -> predict_pb2.PredictRequest:
    """A Predict call to serving_default with a batch of serialized tf.Examples."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = SERVING_SIGNATURE
    request.inputs[SERVING_INPUT].CopyFrom(
        tf.make_tensor_proto(serialized, dtype=tf.string, shape=[len(serialized)])
    )
    return request


def prediction_logs(
    model_name: str, serialized: list[bytes]
) -> list[prediction_log_pb2.PredictionLog]:
    """One single-row request per example, then one with every row (warms batch sizes 1 and N)."""
    batches = [[row] for row in serialized] + ([serialized] if len(serialized) > 1 else [])
    return [
        prediction_log_pb2.PredictionLog(
            predict_log=prediction_log_pb2.PredictLog(request=predict_request(model_name, batch))
        )
        for batch in batches
    ]


def write_warmup(extra_dir: Path, logs: list[prediction_log_pb2.PredictionLog]) -> Path:
    """Write the records where TF Serving looks for them (assets.extra of the version)."""
    path = extra_dir / WARMUP_FILE
    with tf.io.TFRecordWriter(str(path)) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    return path

