"""How CsvExampleGen parses a CSV file, shared with the pre-flight so both read it alike.

TF-free (pyarrow only): the pre-flight reads each input file with the very reader, header rule
and options CsvExampleGen's executor uses, and refuses a file it would fail on, naming it.
"""

from __future__ import annotations

import contextlib
import csv
import math
from collections.abc import Iterator
from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pa_csv

# Bytes per block, at most. A file larger than one block is read as an even number of equal blocks:
# the DirectRunner deals the blocks to its two workers in turn, each writes one examples file per
# split, and every later component reads a gzip file whole with one worker. 12 blocks of 16 MB and a
# last one of 1.8 MB gave one worker 54 % of 1.5 M rows, and so of every later component's work.
BLOCK_BYTES = 16 << 20


def header_names(first_line: str) -> list[str]:
    """Column names as TFX reads them (io_utils.load_csv_column_names): the first line, stripped,
    split on commas, without CSV quoting."""
    return first_line.strip().split(",")


def block_bytes(file_bytes: int) -> int:
    """The block size that cuts a file into equal blocks: one up to BLOCK_BYTES, else an even
    number of at most BLOCK_BYTES each."""
    if file_bytes <= BLOCK_BYTES:
        return BLOCK_BYTES
    blocks = 2 * math.ceil(file_bytes / (2 * BLOCK_BYTES))
    return math.ceil(file_bytes / blocks)


def arrow_blocks(handle: BinaryIO, header: list[str],
                 block_size: int = BLOCK_BYTES) -> Iterator[pa.RecordBatch]:
    """The rows as blocks of string columns, empty cells as nulls, blank lines skipped; raises
    pa.ArrowInvalid on what the reader cannot parse."""
    options = pa_csv.ConvertOptions(
        column_types={name: pa.string() for name in header},
        null_values=[""],  # Arrow's default also nulls "NA", "null", ...: TFX keeps them
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    yield from pa_csv.open_csv(
        handle,
        read_options=pa_csv.ReadOptions(block_size=block_size),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=options,
    )


def arrow_problem(handle: BinaryIO, header: list[str], file_bytes: int) -> str | None:
    """Why CsvExampleGen's reader would fail on this file, or None; reads it in its blocks."""
    try:
        for block in arrow_blocks(handle, header, block_bytes(file_bytes)):
            if block.schema.names != header:
                return (f"CsvExampleGen reads the columns {block.schema.names[:5]}... where the "
                        "header names others")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        return f"CsvExampleGen's CSV reader cannot parse it ({str(error)[:300]})"
    return None


@contextlib.contextmanager
def csv_field_limit(limit: int) -> Iterator[None]:
    """Let the csv module parse any field up to the record limit, then restore its default."""
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)
