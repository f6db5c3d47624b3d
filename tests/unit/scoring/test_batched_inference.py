"""Record batches through Beam's RunInference answer exactly what tfx_bsl's RunInference (one
PredictionLog a row, the implementation it replaced) answered: every output, every row, in order,
on rows with missing cells, for text, multi-class, regression and integer outputs; columns read and
built by Arrow hold the values the csv module read and encode the examples cells did."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipeline.scoring.columns import columns_of_rows
from pipeline.scoring.inference import score_values, signature_outputs
from pipeline.scoring.inputs import encode_columns
from pipeline.vocabulary import SERVING_SIGNATURE

pytestmark = pytest.mark.slow
TYPES = {"size": "DT_FLOAT", "color": "DT_STRING", "doors": "DT_INT64"}
CLASSES = ("small", "mid", "big")


def hostile_model(folder: Path) -> Path:
    """A serving signature with every output layout a pushed model has: [n, 3] probabilities and
    [n, 1] class names (multi-class), [n] prediction (regression), [n, 1] text and [n] integers
    (tfx_bsl's RunInference fails on [n] text)."""
    import tensorflow as tf

    class Model(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve(self, examples):
            parsed = tf.io.parse_example(examples, {
                "size": tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0]),
                "color": tf.io.FixedLenFeature([1], tf.string, default_value=[""]),
                "doors": tf.io.FixedLenFeature([1], tf.int64, default_value=[-1])})
            logit = parsed["size"] * 0.37 - tf.cast(tf.strings.length(parsed["color"]), tf.float32)
            logits = tf.concat([logit, -logit, logit * 0.5 + tf.cast(parsed["doors"], tf.float32)], 1)
            index = tf.argmax(logits, axis=1)
            return {"probabilities": tf.nn.softmax(logits),
                    "classes": tf.reshape(tf.gather(tf.constant(CLASSES), index), [-1, 1]),
                    "prediction": tf.reshape(logit, [-1]),
                    "color": parsed["color"],
                    "doors": tf.reshape(parsed["doors"], [-1]) * 2}

    model = Model()
    tf.saved_model.save(model, str(folder), signatures={SERVING_SIGNATURE: model.serve})
    return folder


def hostile_rows(count: int) -> list[bytes]:
    """Rows with values, missing numbers, missing and empty text, non-ASCII text."""
    colors = ["red", None, "", "grün", "blue"]
    rows = [{"size": None if i % 7 == 0 else i / 10 - 3, "color": colors[i % 5],
             "doors": None if i % 3 == 0 else i % 5} for i in range(count)]
    return encode_columns(columns_of_rows(rows, TYPES), TYPES)


def tfx_bsl_outputs(model_dir: Path, examples: list[bytes], scratch: Path) -> list[dict]:
    """The replaced implementation: tfx_bsl's RunInference, each row's PredictionLog read back."""
    import apache_beam as beam
    import tensorflow as tf
    from apache_beam.options.pipeline_options import PipelineOptions
    from tfx_bsl.public.beam import run_inference
    from tfx_bsl.public.proto import model_spec_pb2

    def line(keyed: tuple) -> str:
        outputs = {name: tf.make_ndarray(proto)[0].tolist()
                   for name, proto in keyed[1].predict_log.response.outputs.items()}
        return json.dumps({"key": keyed[0], "outputs": {
            name: value.decode() if isinstance(value, bytes) else
            [v.decode() if isinstance(v, bytes) else v for v in value]
            if isinstance(value, list) else value for name, value in outputs.items()}})

    spec = model_spec_pb2.InferenceSpecType(saved_model_spec=model_spec_pb2.SavedModelSpec(
        model_path=str(model_dir), signature_name=[SERVING_SIGNATURE], tag=["serve"]))
    prefix = os.path.join(scratch, "old")
    with beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"])) as pipeline:
        _ = (pipeline | beam.Create(list(enumerate(examples)))
             | run_inference.RunInference(spec) | beam.Map(line)
             | beam.io.WriteToText(prefix, file_name_suffix=".jsonl"))
    keyed = {}
    for path in scratch.glob("old*.jsonl"):
        for text in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(text)
            keyed[record["key"]] = record["outputs"]
    return [keyed[index] for index in range(len(examples))]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One saved model for every case."""
    return hostile_model(tmp_path_factory.mktemp("hostile") / "model")


@pytest.mark.parametrize("count, batch_rows", [(1, 8192), (301, 64), (128, 64)])
def test_record_batches_answer_what_tfx_bsl_answered_row_for_row(
        model: Path, tmp_path: Path, count: int, batch_rows: int) -> None:
    examples = hostile_rows(count)
    old = tfx_bsl_outputs(model, examples, tmp_path)
    new = signature_outputs(model, examples, batch_rows)
    assert new == old
    assert [score_values(row, CLASSES) for row in new] == [score_values(row, CLASSES) for row in old]
    assert len({row["prediction"] for row in new}) > count // 2  # rows differ: order counts
    assert {type(row["color"][0]) for row in new} == {str}


def cell_by_cell_list_array(values: list, dtype: str):
    """The replaced encoder column: offsets and values built a cell at a time in Python."""
    import pyarrow as pa

    from pipeline.serving import client

    present = [value for value in values if value is not None]
    if dtype in client.FLOAT_TYPES:
        typed = pa.array(present, pa.float32())
    elif dtype in client.INT_TYPES:
        typed = pa.array(present, pa.int64())
    else:
        typed = pa.array([str(value).encode() for value in present], pa.binary())
    offsets, position = [], 0
    for value in values:
        offsets.append(None if value is None else position)
        position += value is not None
    return pa.ListArray.from_arrays(pa.array([*offsets, position], pa.int32()), typed)


@pytest.mark.parametrize("count", [1, 7, 300])
def test_columns_built_by_arrow_encode_the_examples_cells_did(count: int) -> None:
    import pyarrow as pa
    from tensorflow.core.example import example_pb2
    from tfx_bsl.coders import example_coder

    def parsed(examples: list[bytes]) -> list:
        """The examples as protos (the native encoder's map order varies between calls)."""
        return [example_pb2.Example.FromString(example) for example in examples]

    colors = [None, "red", "", "grün", "blue, \"quoted\""]
    rows = [{"size": None if i % 4 == 0 else i / 3 - 20, "color": colors[i % 5],
             "doors": None if i % 3 == 1 else i - 150} for i in range(count)]
    old = example_coder.RecordBatchToExamples(pa.RecordBatch.from_arrays(
        [cell_by_cell_list_array([row[name] for row in rows], dtype)
         for name, dtype in TYPES.items()], list(TYPES)))
    assert parsed(encode_columns(columns_of_rows(rows, TYPES), TYPES)) == parsed(old)


HOSTILE_CSV = {
    "plain": "size,color,doors,id\n1.5,red,3,a\n,,,b\n-2e3, blue ,4.0,c\n",
    "quoted": 'id,size,color,doors\na,1,"x, ""y""\nz",2\nb,"  7 ",grün,\n',
    "python-only number": "size,color,doors,id\n1_000,red,3,a\n+1,x,1,b\n",
    "python-only space": "size,color,doors,id\n1,\xa0red\x1c,3,a\n",
    "byte-order mark": "\ufeffsize,color,doors,id\n1,red,3,a\n",
    "short row": "size,color,doors,id\n1,red\n2,blue,3,b\n",
    "bad integer": "size,color,doors,id\n1,red,2.5,a\n",
    "bad number": "size,color,doors,id\n1,red,2,a\nten,red,2,b\n",
    "missing column": "size,color,id\n1,red,a\n",
    "inf and nan": "size,color,doors,id\ninf,red,1,a\nnan,red,-1e2,b\n",
    "empty integer column": "size,color,doors,id\n1,red,,a\n2,red, ,b\n",
}
# The files Arrow reads itself (the others go through the csv module's path).
ARROW_READ = {"plain", "quoted", "inf and nan", "empty integer column"}


@pytest.mark.parametrize("name", list(HOSTILE_CSV))
def test_arrow_columns_hold_what_the_csv_module_reads(tmp_path: Path, name: str) -> None:
    import math

    from pipeline.scoring.columns import _arrow_columns, read_columns
    from pipeline.serving import client

    path = tmp_path / "rows.csv"
    path.write_text(HOSTILE_CSV[name], encoding="utf-8")
    wanted = {**TYPES, "id": "DT_STRING"}
    header = path.read_text(encoding="utf-8").split("\n")[0].split(",")
    assert (_arrow_columns(path, header, wanted) is not None) == (name in ARROW_READ)
    try:
        rows = client.read_rows(path, wanted)
    except client.ClientError as error:
        with pytest.raises(client.ClientError) as raised:
            read_columns(path, header, wanted)
        assert str(raised.value) == str(error)
        return
    columns = {column: values.to_pylist()
               for column, values in read_columns(path, header, wanted).items()}

    def same(value: object) -> object:
        return "nan" if isinstance(value, float) and math.isnan(value) else value

    assert {column: [same(row[column]) for row in rows] for column in wanted} == {
        column: [same(value) for value in values] for column, values in columns.items()}
