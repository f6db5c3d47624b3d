"""A pushed model's `serving_default` over serialized tf.Examples with Beam's RunInference on the
DirectRunner, in memory: record batches of rows move through the job, one model call and one
output per batch, as TF Serving would answer each of their rows."""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.vocabulary import (
    CLASSES_OUTPUT,
    DEFAULT_DECISION_THRESHOLD,
    PREDICTION_OUTPUT,
    PROBABILITIES_OUTPUT,
    probability_column,
)

if TYPE_CHECKING:
    import numpy as np

# One Beam worker in this process: the model is loaded once and TensorFlow is imported once.
BEAM_ARGS = ("--runner=DirectRunner", "--direct_running_mode=in_memory", "--direct_num_workers=1")
# Rows per record batch: one element, one model call and one output of the job (the ceiling's
# batch size; a batch's tensors stay a few MiB).
BATCH_ROWS = 8192
# Outputs per row: the signature's name -> its value for that row (a float, a list, or text).
Outputs = dict[str, object]
# One batch's outputs: the signature's name -> its tensor's values, one entry per row.
BatchOutputs = dict[str, "np.ndarray"]


def signature_outputs(model_dir: Path, examples: Sequence[bytes],
                      batch_rows: int = BATCH_ROWS) -> list[Outputs]:
    """Each example's `serving_default` outputs, in the examples' order."""
    import apache_beam as beam
    from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.scoring.signature_handler import SignatureHandler

    with tempfile.TemporaryDirectory(prefix="scoring-") as scratch:
        inputs = _write_inputs(os.path.join(scratch, "inputs.tfrecord"), examples, batch_rows)
        answers = os.path.join(scratch, "outputs")
        os.mkdir(answers)
        with beam.Pipeline(options=PipelineOptions(list(BEAM_ARGS))) as pipeline:
            _ = (pipeline
                 | "Batches" >> beam.io.ReadFromTFRecord(inputs, coder=_batch_coder())
                 .with_output_types(tuple[int, list[bytes]])
                 | "RunInference" >> RunInference(
                     KeyedModelHandler(SignatureHandler(str(model_dir))))
                 | "Write" >> beam.Map(_write_outputs, answers))
        return [row for name in sorted(os.listdir(answers))
                for row in _rows(_read_outputs(os.path.join(answers, name)))]


def _batch_coder():
    """A record batch's (position, serialized examples) as one record."""
    import apache_beam as beam

    return beam.coders.TupleCoder((beam.coders.VarIntCoder(),
                                   beam.coders.ListCoder(beam.coders.BytesCoder())))


def _write_inputs(path: str, examples: Sequence[bytes], batch_rows: int) -> str:
    """The examples in record batches keyed by position, in a TFRecord file the job reads:
    beam.Create would pickle and compress every example into the pipeline's own definition."""
    import tensorflow as tf

    coder = _batch_coder()
    with tf.io.TFRecordWriter(path) as writer:
        for start in range(0, len(examples), batch_rows):
            writer.write(coder.encode((start // batch_rows,
                                       list(examples[start:start + batch_rows]))))
    return path


def _write_outputs(keyed: tuple[int, BatchOutputs], folder: str) -> None:
    """One batch's outputs in a file named by its position (names sort in the rows' order)."""
    position, outputs = keyed
    with open(os.path.join(folder, f"{position:010d}.pickle"), "wb") as handle:
        pickle.dump(outputs, handle, protocol=pickle.HIGHEST_PROTOCOL)


def _read_outputs(path: str) -> BatchOutputs:
    """A batch's outputs as the job wrote them."""
    with open(path, "rb") as handle:
        return pickle.load(handle)


def _rows(outputs: BatchOutputs) -> list[Outputs]:
    """A batch's outputs split into rows: each output's entry for the row as a Python value (what
    tf.make_ndarray(row's tensor)[0].tolist() gave per row), class names as text."""
    columns = {name: _column(values) for name, values in outputs.items()}
    count = len(next(iter(columns.values()), []))
    return [{name: values[index] for name, values in columns.items()} for index in range(count)]


def _column(values: np.ndarray) -> list:
    """An output's entries as Python values; text (bytes) decoded only where the tensor holds it."""
    entries = values.tolist()
    return [_plain(entry) for entry in entries] if values.dtype == object else entries


def _plain(value: object) -> object:
    """Text for bytes (class names), numbers and lists as they are."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def score_values(outputs: Outputs, classes: tuple[str, ...],
                 threshold: float = DEFAULT_DECISION_THRESHOLD) -> dict[str, object]:
    """A row's scores: each class's probability and the class (binary: the positive class from
    the model's decision threshold on), or the prediction; named by vocabulary.score_columns."""
    if PREDICTION_OUTPUT in outputs:
        return {PREDICTION_OUTPUT: _first(outputs[PREDICTION_OUTPUT])}
    probabilities = outputs[PROBABILITIES_OUTPUT]
    values = probabilities if isinstance(probabilities, list) else [probabilities]
    if len(values) == 1 and len(classes) == 2:
        positive = float(str(values[0]))
        values = [1.0 - positive, positive]
        chosen = classes[1] if positive >= threshold else classes[0]
    else:
        chosen = str(outputs[CLASSES_OUTPUT])
    scores: dict[str, object] = {probability_column(c): float(str(p))
                                 for c, p in zip(classes, values, strict=True)}
    scores[CLASSES_OUTPUT] = chosen
    return scores


def with_class(outputs: Outputs, classes: tuple[str, ...], threshold: float) -> Outputs:
    """A binary row's outputs plus its class at the threshold; other outputs as they are."""
    if CLASSES_OUTPUT in outputs or PROBABILITIES_OUTPUT not in outputs or len(classes) != 2:
        return outputs
    return {**outputs, CLASSES_OUTPUT: score_values(outputs, classes, threshold)[CLASSES_OUTPUT]}


def _first(value: object) -> float:
    """A [1]-shaped output's number."""
    return float(value[0] if isinstance(value, list) else value)  # type: ignore[arg-type]
