"""A pushed model's `serving_default` over serialized tf.Examples with TFX's batch inference:
tfx_bsl's RunInference on Beam's DirectRunner, in memory, as TF Serving would answer each row."""

from __future__ import annotations

import glob
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pipeline.vocabulary import (
    CLASSES_OUTPUT,
    DEFAULT_DECISION_THRESHOLD,
    PREDICTION_OUTPUT,
    PROBABILITIES_OUTPUT,
    SERVING_SIGNATURE,
    probability_column,
)

# One Beam worker in this process: the model is loaded once and TensorFlow is imported once.
BEAM_ARGS = ("--runner=DirectRunner", "--direct_running_mode=in_memory", "--direct_num_workers=1")
# Outputs per row: the signature's name -> its value for that row (a float, a list, or text).
Outputs = dict[str, object]


def signature_outputs(model_dir: Path, examples: Sequence[bytes]) -> list[Outputs]:
    """Each example's `serving_default` outputs, in the examples' order."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from tfx_bsl.public.beam import run_inference
    from tfx_bsl.public.proto import model_spec_pb2

    spec = model_spec_pb2.InferenceSpecType(saved_model_spec=model_spec_pb2.SavedModelSpec(
        model_path=str(model_dir), signature_name=[SERVING_SIGNATURE], tag=["serve"]))
    with tempfile.TemporaryDirectory(prefix="scoring-") as scratch:
        prefix = os.path.join(scratch, "outputs")
        inputs = _write_inputs(os.path.join(scratch, "inputs.tfrecord"), examples)
        with beam.Pipeline(options=PipelineOptions(list(BEAM_ARGS))) as pipeline:
            _ = (pipeline
                 | "Rows" >> beam.io.ReadFromTFRecord(inputs, coder=_keyed_coder())
                 .with_output_types(tuple[int, bytes])
                 | "RunInference" >> run_inference.RunInference(spec)
                 | "Outputs" >> beam.Map(_json_line)
                 | "Write" >> beam.io.WriteToText(prefix, file_name_suffix=".jsonl"))
        keyed = {}
        for path in glob.glob(f"{prefix}*.jsonl"):
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    record = json.loads(line)
                    keyed[record["key"]] = record["outputs"]
    return [keyed[index] for index in range(len(examples))]


def _keyed_coder():
    """A row's (position, serialized example) as one record."""
    import apache_beam as beam

    return beam.coders.TupleCoder((beam.coders.VarIntCoder(), beam.coders.BytesCoder()))


def _write_inputs(path: str, examples: Sequence[bytes]) -> str:
    """The examples, keyed by position, in a TFRecord file the pipeline reads: beam.Create would
    pickle and compress every example into the pipeline's own definition (most of a scoring's
    time, and memory that grows with the batch)."""
    import tensorflow as tf

    coder = _keyed_coder()
    with tf.io.TFRecordWriter(path) as writer:
        for position, example in enumerate(examples):
            writer.write(coder.encode((position, example)))
    return path


def _json_line(keyed_log: tuple) -> str:
    """One row's key and outputs (each output's first and only batch entry) as a JSON line."""
    key, log = keyed_log
    outputs = {name: _plain(_row_value(proto))
               for name, proto in log.predict_log.response.outputs.items()}
    return json.dumps({"key": key, "outputs": outputs})


# The repeated field of a TensorProto that holds each dtype's values (types_pb2 numbers).
_VALUE_FIELDS = {1: "float_val", 2: "double_val", 3: "int_val", 7: "string_val", 9: "int64_val"}


def _row_value(proto) -> object:
    """The one row of a [1] or [1, k] output tensor, read from its values field: what
    tf.make_ndarray(proto)[0].tolist() gives, without its cost (about 57 us a call, most of a
    row's conversion); any other layout (packed content, repeated-value compression, more
    dimensions) goes through tf.make_ndarray itself."""
    dims = [dim.size for dim in proto.tensor_shape.dim]
    field = _VALUE_FIELDS.get(proto.dtype)
    values: Sequence[object] = getattr(proto, field) if field and not proto.tensor_content else ()
    if len(dims) == 1 and dims[0] == 1 and len(values) == 1:
        return values[0]
    if len(dims) == 2 and dims[0] == 1 and len(values) == dims[1]:
        return list(values)
    import tensorflow as tf

    return tf.make_ndarray(proto)[0].tolist()


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
