"""CsvExampleGen's executor with parsing and encoding done a block of rows at a time.

TFX's CSV executor builds every tf.Example in Python (about 230 us a row here). This one reads
blocks with Arrow's CSV reader, infers column types with TFX's rules (a column is INT if every
non-empty cell is an int64, else FLOAT if every one is a float, else STRING; an all-empty column
has no kind) and writes each row's deterministic serialization, built column-wise
(pipeline/data/example_wire.py): the very bytes TFX's split hash reads, so every row lands in the
same split as with TFX's executor.

Each split is written without the per-record reshuffle TFX's writer applies before Beam's TFRecord
sink: every row went through a random-key group-by once more (through the runner process with
two workers). In one process the rows came out of it in input order, so the bundled data's files
are record for record what they were; with two workers each writes its own blocks' rows, in an
order that varies from run to run as TFX's did.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, cast

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen import write_split
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.components.example_gen.csv_example_gen import component as csv_component
from tfx.components.util import examples_utils
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import Artifact, artifact_utils
from tfx.types import standard_component_specs as specs
from tfx.utils import io_utils, proto_utils

from pipeline.data import csv_format, example_wire, input_files

# Kinds in TFX's order of generality; a column takes the most general kind any cell needs.
UNKNOWN, INT, FLOAT, STRING = range(4)
INT64_MIN, INT64_MAX = np.iinfo(np.int64).min, np.iinfo(np.int64).max


def cell_kind(cell: str) -> int:
    """Python's int()/float() decide, as in TFX; an int beyond int64 makes the column STRING."""
    try:
        return INT if INT64_MIN <= int(cell) <= INT64_MAX else STRING
    except ValueError:
        pass
    try:
        float(cell)
    except ValueError:
        return STRING
    return FLOAT


def column_kind(cells: pa.Array) -> int:
    """Kind of a block's column; Arrow's casts accept a subset of what Python does, so a failed
    cast falls back to Python on the distinct cells."""
    present = cells.drop_null()
    if len(present) == 0:
        return UNKNOWN
    if _casts(present, pa.int64()):
        return INT
    whole = present.filter(pc.match_substring_regex(present, r"^[+-]?[0-9]+$"))
    if _casts(present, pa.float64()) and _casts(whole, pa.int64()):
        return FLOAT
    return max(cell_kind(cell) for cell in pc.unique(present).to_pylist())


def _casts(cells: pa.Array, arrow_type: pa.DataType) -> bool:
    """Whether Arrow parses every cell as this type (ints beyond int64 do not)."""
    try:
        pc.cast(cells, arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def typed_cells(cells: pa.Array, kind: int) -> pa.Array:
    """The cells as tf.Example values, null where empty: int64, float32 (rounded from float64, as
    the proto does with Python floats) or bytes."""
    if kind == STRING:
        return cells.cast(pa.large_binary())
    arrow_type, parse = (pa.int64(), int) if kind == INT else (pa.float64(), float)
    try:
        values = pc.cast(cells, arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = pa.array([None if cell is None else parse(cell) for cell in cells.to_pylist()],
                          arrow_type)
    return values if kind == INT else pc.cast(values, pa.float32())


def read_blocks(path: str, header: list[str]) -> Iterator[pa.RecordBatch]:
    """A CSV file's rows as blocks of string columns (csv_format, which the pre-flight shares);
    Arrow's parse errors name the file."""
    size = beam.io.filesystems.FileSystems.match([path])[0].metadata_list[0].size_in_bytes
    with beam.io.filesystems.FileSystems.open(path) as handle:
        try:
            yield from csv_format.arrow_blocks(handle, header, csv_format.block_bytes(size))
        except pa.ArrowInvalid as error:
            raise ValueError(f"{path}: {error}") from error


class ColumnKinds(beam.CombineFn):
    """Most general kind per column over every block of every file."""

    def create_accumulator(self) -> dict[str, int]:
        return {}

    def add_input(self, kinds: dict[str, int], block: pa.RecordBatch) -> dict[str, int]:
        for name, cells in zip(block.schema.names, block.columns, strict=True):
            kinds[name] = max(kinds.get(name, UNKNOWN), column_kind(cells))
        return kinds

    def merge_accumulators(self, accumulators: list[dict[str, int]]) -> dict[str, int]:
        merged: dict[str, int] = {}
        for kinds in accumulators:
            for name, kind in kinds.items():
                merged[name] = max(merged.get(name, UNKNOWN), kind)
        return merged

    def extract_output(self, kinds: dict[str, int]) -> dict[str, int]:
        return kinds


def encode_block(block: pa.RecordBatch, kinds: dict[str, int]) -> Iterator[bytes]:
    """A block of string columns as deterministic serialized tf.Examples, one per row; a column
    with no kind gets the empty Feature TFX writes."""
    columns = {name: None if kinds[name] == UNKNOWN else typed_cells(cells, kinds[name])
               for name, cells in zip(block.schema.names, block.columns, strict=True)}
    yield from example_wire.serialized_examples(columns, block.num_rows).to_pylist()


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(bytes)
def _CsvToSerializedExamples(  # Beam names transforms like classes
    pipeline: beam.Pipeline, exec_properties: dict[str, Any], split_pattern: str
) -> beam.PCollection:
    """Every row of the split's CSV files as a serialized tf.Example."""
    pattern = os.path.join(exec_properties[specs.INPUT_BASE_KEY], split_pattern)
    files = sorted(cast("list[str]", fileio.glob(pattern)))  # a str pattern globs to str paths
    if not files:
        raise RuntimeError(f"Split pattern {pattern} does not match any files.")
    # Never open a FIFO, device or dangling link (a run whose runner skipped the pre-flight).
    unreadable = input_files.local_problems(files)
    if unreadable:
        raise input_files.PreflightError(f"input files CsvExampleGen cannot read in {pattern}",
                                         unreadable)
    header = io_utils.load_csv_column_names(files[0])
    different = [f for f in files[1:] if io_utils.load_csv_column_names(f) != header]
    if different:
        raise RuntimeError(f"{different[0]} has a different header than {files[0]}")
    blocks = (pipeline
              | "CreateFilenames" >> beam.Create(files)
              | "ReadBlocks" >> beam.FlatMap(read_blocks, header)
              # Spread one big file's blocks over the DirectRunner's workers.
              | "SpreadBlocks" >> beam.Reshuffle())
    kinds = beam.pvalue.AsSingleton(blocks | "InferColumnKinds" >> beam.CombineGlobally(ColumnKinds()))
    return blocks | "EncodeBlocks" >> beam.FlatMap(encode_block, kinds)


class Executor(BaseExampleGenExecutor):
    """CsvExampleGen's executor, block-wise; splits, spans and outputs are TFX's own."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:  # TFX interface
        """The CSV reader the base executor applies to each input split."""
        # TFX calls what this returns with (pipeline, exec_properties, split_pattern): a
        # beam.ptransform_fn, as its own executors return, though its interface says PTransform.
        return cast(beam.PTransform, _CsvToSerializedExamples)

    def Do(self, input_dict: dict[str, list[Artifact]],  # noqa: N802 (TFX interface)
           output_dict: dict[str, list[Artifact]], exec_properties: dict[str, Any]) -> None:
        """TFX's Do (split names, records, payload and file format), each split written by
        Beam's TFRecord sink without TFX's per-record reshuffle before it."""
        input_config = proto_utils.json_to_proto(
            exec_properties[specs.INPUT_CONFIG_KEY], example_gen_pb2.Input())
        output_config = proto_utils.json_to_proto(
            exec_properties[specs.OUTPUT_CONFIG_KEY], example_gen_pb2.Output())
        outputs = output_dict[specs.EXAMPLES_KEY]
        artifact_utils.get_single_instance(outputs).split_names = (
            artifact_utils.encode_split_names(
                example_gen_utils.generate_output_split_names(input_config, output_config)))
        with self._make_beam_pipeline() as pipeline:
            for name, records in self.GenerateExamplesByBeam(pipeline, exec_properties).items():
                prefix = os.path.join(artifact_utils.get_split_uri(outputs, name),
                                      write_split.DEFAULT_TF_RECORD_FILE_NAME)
                _ = records | f"WriteSplit[{name}]" >> beam.io.WriteToTFRecord(
                    prefix, file_name_suffix=".gz")
        file_format = exec_properties.get(specs.OUTPUT_FILE_FORMAT_KEY,
                                          example_gen_pb2.FILE_FORMAT_UNSPECIFIED)
        for artifact in outputs:
            if exec_properties.get(specs.OUTPUT_DATA_FORMAT_KEY):
                examples_utils.set_payload_format(
                    artifact, exec_properties[specs.OUTPUT_DATA_FORMAT_KEY])
            if file_format:
                examples_utils.set_file_format(artifact,
                                               write_split.to_file_format_str(file_format))


class CsvExampleGen(csv_component.CsvExampleGen):
    """TFX's CsvExampleGen (same spec, same id) running the block-wise executor."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
