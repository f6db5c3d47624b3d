"""Ingest: validate a file in a hidden folder of the data dir, then rename it to span-N+1."""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.config.project import DataLimits
from pipeline.data import validation
from pipeline.data.input_files import is_data_name
from pipeline.data.spans import SPAN_FILE, SpanError, list_spans, span_dir

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import schema_pb2

DEFAULT_LIMITS = DataLimits()


def check_columns(header: list[str], expected: set[str], source: Path) -> None:
    """The file's columns must be exactly the schema's training columns."""
    missing = sorted(expected - set(header))
    extra = sorted(set(header) - expected)
    duplicated = sorted({c for c in header if header.count(c) > 1})
    problems = [
        f"missing columns {missing}" if missing else "",
        f"unexpected columns {extra}" if extra else "",
        f"duplicated columns {duplicated}" if duplicated else "",
    ]
    problems = [p for p in problems if p]
    if problems:
        raise SpanError(f"{source}: " + "; ".join(problems))


def statistics_anomalies(
    csv_path: Path, schema: schema_pb2.Schema, environment: str, limits: DataLimits = DEFAULT_LIMITS,
) -> list[str]:
    """The schema skew of a CSV file, one line per feature: the verdict a run's DataGate gives
    (pipeline.data.validation.judge), so growth that would train is landed too."""
    statistics = validation.csv_statistics(csv_path, schema)
    verdict = validation.judge({csv_path.name: statistics}, schema, limits, environment)
    return [line.removeprefix(f"{csv_path.name}: ") for line in verdict.schema_skew]


def ingest(
    source: Path, data_dir: Path, schema_path: Path, limits: DataLimits = DEFAULT_LIMITS
) -> int:
    """Land `source` as the next span after checking its columns and statistics; return its number.

    The file is copied into a hidden folder of the data dir (invisible to ExampleGen's pattern),
    validated there, then renamed to span-N+1 in one step; on any problem the folder is removed and
    existing spans are untouched.
    """
    if not source.is_file():
        raise SpanError(f"{source} is not a file")
    if data_dir.is_dir() and not list_spans(data_dir) and any(map(is_data_name, os.listdir(data_dir))):
        raise SpanError(
            f"{data_dir} is a plain folder of CSV files, not span-N folders: ingest into a new "
            "or span-organized data dir"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    schema = validation.load_curated_schema(schema_path)
    header, _ = _header_only(source)
    check_columns(header, validation.schema_columns(schema), source)
    staging = Path(tempfile.mkdtemp(prefix=".ingest-", dir=data_dir))
    try:
        landed = shutil.copy(source, staging / SPAN_FILE)
        problems = statistics_anomalies(Path(landed), schema, validation.TRAINING, limits)
        if problems:
            detail = "\n  ".join(problems)
            raise SpanError(f"{source} breaks the schema {schema_path}:\n  {detail}")
        span = (list_spans(data_dir) or [0])[-1] + 1
        os.rename(staging, span_dir(data_dir, span))
        return span
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _header_only(source: Path) -> tuple[list[str], int]:
    """The CSV header, refusing empty files."""
    try:
        with source.open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), None)
            if not header:
                raise SpanError(f"{source} is empty")
            rows = sum(1 for _ in handle)
    except UnicodeDecodeError as error:
        raise SpanError(f"{source} is not UTF-8 text ({error.reason} at byte {error.start})") from error
    if rows == 0:
        raise SpanError(f"{source} has a header but no rows")
    return header, rows
