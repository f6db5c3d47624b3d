"""The block-wise CSV executor writes exactly the examples, in exactly the splits, of TFX's own."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import tensorflow as tf
from google.protobuf import json_format
from tfx.components.example_gen.csv_example_gen import executor as tfx_csv_executor
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs as spec
from tfx_bsl.coders import example_coder

from pipeline import vocabulary
from pipeline.config import PipelineConfig
from pipeline.data import input_files
from pipeline.data.preflight import PreflightError, check_data_dir
from pipeline.graph import csv_example_gen, pipeline_graph
from tests.support.configs import SAMPLE_DATA

# Runs TensorFlow, Transform or Beam: `make test-unit` skips it, `make test` runs it.
pytestmark = pytest.mark.slow

# Cells TFX reads with Python's int()/float(): signs, spaces, exponents, "NA" text, huge ints,
# an all-empty column, a quoted comma and a quoted newline, a blank line.
EDGE_CASES = (
    "plain_int,signed,spaced,mixed,text,huge,empty,quoted\n"
    '1,+5, 7,1,NA,1,,"a,b"\n'
    "2,-3,8 ,2.5,null,99999999999999999999,,\n"
    '\n'
    '3,4,9,1e3,x,3,,"line\nbreak"\n'
    ',,,,,,,""\n'
)
# A second file of the same input: unicode cells and names, int64's limits, an int beyond them
# only here, floats Arrow and Python read alike, cells and names long enough for 2-byte lengths.
LONG = "x" * 300
HOSTILE = (
    f"zeta,Ünïcode,int_limits,beyond,floats,all_empty,{LONG}\n"
    f"1,café ☕,-9223372036854775808,1,-0.0,,{LONG}\n"
    f'2,"quoted, comma",9223372036854775807,18446744073709551616,1e308,,\n'
    f"-3,,-1,-5,nan,,😀\n"
    f",日本,0,,inf,,{LONG}{LONG}\n"
)


def examples_by_split(executor_class: type, input_base: Path, output: Path,
                      beam_args: tuple[str, ...] = (), in_file_order: bool = False
                      ) -> dict[str, list]:
    """Run an ExampleGen executor in process; every split's records, sorted (or as the files hold
    them), each deterministically serialized (TFX's executor writes map entries in the order its
    proto library iterates them)."""
    examples = standard_artifacts.Examples()
    examples.uri = str(output)
    splits = example_gen_pb2.SplitConfig(splits=[
        example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=3),
        example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1)])
    properties = {
        spec.INPUT_BASE_KEY: str(input_base),
        spec.INPUT_CONFIG_KEY: json_format.MessageToJson(example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(
                name="single_split", pattern=input_files.DATA_FILE_PATTERN)])),
        spec.OUTPUT_CONFIG_KEY: json_format.MessageToJson(
            example_gen_pb2.Output(split_config=splits)),
        spec.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_TF_EXAMPLE,
    }
    context = executor_class.Context(beam_pipeline_args=list(beam_args), tmp_dir=str(output / "tmp"))
    executor_class(context).Do({}, {spec.EXAMPLES_KEY: [examples]}, properties)
    assert examples.get_string_custom_property("payload_format") == "FORMAT_TF_EXAMPLE"
    result = {}
    for split in ("train", "eval"):
        files = sorted(glob.glob(str(output / f"Split-{split}" / "*")))
        records = [tf.train.Example.FromString(record.numpy()).SerializeToString(
            deterministic=True) for record in tf.data.TFRecordDataset(files, compression_type="GZIP")]
        result[split] = records if in_file_order else sorted(records)
    return result


@pytest.mark.parametrize("data", ["sample", "edge_cases", "hostile"])
def test_same_examples_in_the_same_splits_as_tfx(data: str, tmp_path: Path) -> None:
    input_base = SAMPLE_DATA
    if data != "sample":
        input_base = tmp_path / "input"
        input_base.mkdir()
        (input_base / "data.csv").write_text(EDGE_CASES)
    if data == "hostile":
        (input_base / "data.csv").write_text(HOSTILE.replace("\n", "\r\n", 2))
        (input_base / "more.csv").write_text(HOSTILE.splitlines(keepends=True)[0] + HOSTILE)
    ours = examples_by_split(csv_example_gen.Executor, input_base, tmp_path / "ours")
    theirs = examples_by_split(tfx_csv_executor.Executor, input_base, tmp_path / "tfx")
    assert ours == theirs
    assert sum(len(records) for records in ours.values()) == {
        "sample": 302, "edge_cases": 4, "hostile": 4 + 5}[data]


def test_in_one_process_the_files_hold_the_rows_in_the_order_tfx_wrote_them(tmp_path: Path) -> None:
    ours = examples_by_split(csv_example_gen.Executor, SAMPLE_DATA, tmp_path / "ours",
                             in_file_order=True)
    theirs = examples_by_split(tfx_csv_executor.Executor, SAMPLE_DATA, tmp_path / "tfx",
                               in_file_order=True)
    assert ours == theirs
    assert sorted(os.listdir(tmp_path / "ours" / "Split-eval")) == ["data_tfrecord-00000-of-00001.gz"]


def test_two_workers_write_every_row_once(tmp_path: Path) -> None:
    """Each worker writes its own share through Beam's sink: no row lost, none written twice."""
    ours = examples_by_split(csv_example_gen.Executor, SAMPLE_DATA, tmp_path / "ours", (
        "--direct_running_mode=multi_processing", "--direct_num_workers=2"))
    theirs = examples_by_split(tfx_csv_executor.Executor, SAMPLE_DATA, tmp_path / "tfx")
    assert ours == theirs


def reference_encoding(block: pa.RecordBatch, kinds: dict[str, int]) -> list[bytes]:
    """The executor's former encoding: tfx_bsl's encoder, then a parse and a deterministic
    serialization per row, with an empty Feature for a column with no kind."""
    names = [name for name in block.schema.names if kinds[name] != csv_example_gen.UNKNOWN]
    columns = []
    for name in names:
        cells = block.column(block.schema.get_field_index(name))
        lengths = pc.cast(pc.is_valid(cells), pa.int64()).to_numpy(zero_copy_only=False)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        values = csv_example_gen.typed_cells(cells, kinds[name]).drop_null()
        columns.append(pa.LargeListArray.from_arrays(pa.array(offsets), values))
    encoded = example_coder.RecordBatchToExamplesEncoder().encode(
        pa.RecordBatch.from_arrays(columns, names))
    result = []
    for serialized in encoded:
        example = tf.train.Example.FromString(serialized)
        for name in set(block.schema.names) - set(names):
            example.features.feature[name].SetInParent()
        result.append(example.SerializeToString(deterministic=True))
    return result


@pytest.mark.parametrize("text", [EDGE_CASES, HOSTILE])
def test_column_wise_bytes_are_the_per_row_deterministic_serialization(text: str,
                                                                      tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text(text)
    header = text.splitlines()[0].split(",")
    blocks = list(csv_example_gen.read_blocks(str(path), header))
    kinds = csv_example_gen.ColumnKinds().add_input({}, blocks[0])
    assert list(csv_example_gen.encode_block(blocks[0], kinds)) == reference_encoding(
        blocks[0], kinds)


def test_column_kinds_follow_pythons_parsers() -> None:
    kind = csv_example_gen.column_kind
    assert kind(pa.array(["1", "-2", None])) == csv_example_gen.INT
    assert kind(pa.array(["+5", " 7"])) == csv_example_gen.INT
    assert kind(pa.array(["1", "2.5", "1e3"])) == csv_example_gen.FLOAT
    assert kind(pa.array(["99999999999999999999"])) == csv_example_gen.STRING
    assert kind(pa.array(["1", "NA"])) == csv_example_gen.STRING
    assert kind(pa.array([None, None], pa.string())) == csv_example_gen.UNKNOWN


def test_a_file_arrow_cannot_read_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "data.csv"
    bad.write_bytes(b"a,b\n1,x\n2,\xff\xfe\n")
    with pytest.raises(ValueError, match=f"^{bad}: .*invalid UTF8"):
        list(csv_example_gen.read_blocks(str(bad), ["a", "b"]))


def test_it_reads_exactly_the_files_the_preflight_checks(tmp_path: Path) -> None:
    input_base = tmp_path / "input"
    input_base.mkdir()
    lines = (SAMPLE_DATA / "data.csv").read_text().splitlines(keepends=True)
    (input_base / "a.csv").write_text("".join(lines[:101]))
    (input_base / "b.csv").symlink_to(SAMPLE_DATA / "data.csv")
    for junk in ("notes.txt", "a.csv.swp", "a.csv~", "DATA.CSV"):
        (input_base / junk).write_bytes(b"\xff\x00 not,a,csv\n")
    os.mkfifo(input_base / "pipe")  # not *.csv: never opened
    config = PipelineConfig()
    checked = check_data_dir(input_base, config.schema_path, 1 << 20, config.declaration)
    examples_by_split(csv_example_gen.Executor, input_base, tmp_path / "ours")
    records = tf.data.TFRecordDataset(glob.glob(str(tmp_path / "ours" / "Split-*" / "*")),
                                      compression_type="GZIP")
    assert sum(1 for _ in records) == checked.rows == 100 + 302
    inputs = vocabulary.GraphInputs(window=(), code_fingerprint="c", schema_fingerprint="s",
                                    preprocessing_code_fingerprint="p", model_code_fingerprint="m")
    nodes = pipeline_graph.create_components(config, inputs, run_context="{}")
    example_gen = next(n for n in nodes if n.id == vocabulary.EXAMPLE_GEN)
    assert input_files.DATA_FILE_PATTERN in example_gen.exec_properties["input_config"]


def test_a_fifo_it_would_read_is_refused_without_opening_it(tmp_path: Path) -> None:
    input_base = tmp_path / "input"
    input_base.mkdir()
    (input_base / "a.csv").write_text((SAMPLE_DATA / "data.csv").read_text())
    os.mkfifo(input_base / "b.csv")
    with pytest.raises(PreflightError, match="b.csv: is a FIFO"):
        examples_by_split(csv_example_gen.Executor, input_base, tmp_path / "ours")
