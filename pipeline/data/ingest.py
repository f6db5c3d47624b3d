"""Ingest: validate a file in a hidden folder of the data dir, then rename it to span-N+1.

A plain folder of CSV files (what `init` writes, or any folder a project was declared on) becomes
span folders on its first ingest: its data files become span-1, under their own names, so the data
fingerprint of span 1 is the folder's and a run recorded on the folder reproduces as span 1.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.config.project import DataLimits
from pipeline.data import input_files, validation
from pipeline.data.fingerprints import file_sha256
from pipeline.data.spans import SPAN_FILE, SpanError, list_spans, span_dir

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import schema_pb2

DEFAULT_LIMITS = DataLimits()


@dataclass(frozen=True)
class Landing:
    """What one ingest did: the span the file is, whether it was already there, what moved."""

    span: int
    duplicate_of: Path | None = None
    converted: tuple[Path, ...] = ()


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
) -> Landing:
    """Land `source` as the next span after checking its columns and statistics.

    The file is copied into a hidden folder of the data dir (invisible to ExampleGen's pattern),
    validated there, then renamed to span-N+1 in one step; on any problem the folder is removed and
    the data dir is untouched. A file whose bytes are already landed is not landed twice. A plain
    folder is turned into span-1 only once the new file passed, just before it lands.
    """
    if not source.is_file():
        raise SpanError(f"{source} is not a file")
    header, _ = _header_only(source)
    duplicate = landed_copy(source, data_dir)
    if duplicate is not None:
        return Landing(_span_of(duplicate, data_dir), duplicate_of=duplicate)
    schema = validation.load_curated_schema(schema_path)
    check_columns(header, validation.schema_columns(schema), source)
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".ingest-", dir=data_dir))
    try:
        landed = shutil.copy(source, staging / SPAN_FILE)
        problems = statistics_anomalies(Path(landed), schema, validation.TRAINING, limits)
        if problems:
            detail = "\n  ".join(problems)
            raise SpanError(f"{source} breaks the schema {schema_path}:\n  {detail}")
        converted = convert_to_spans(data_dir)
        span = (list_spans(data_dir) or [0])[-1] + 1
        os.rename(staging, span_dir(data_dir, span))
        return Landing(span, converted=converted)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def plain_files(data_dir: Path) -> tuple[Path, ...]:
    """The data files of a plain folder (no span-N folders); () for a span-organized or new dir."""
    if not data_dir.is_dir() or list_spans(data_dir):
        return ()
    if not any(map(input_files.is_data_name, os.listdir(data_dir))):
        return ()
    return tuple(input_files.data_files(data_dir))


def convert_to_spans(data_dir: Path) -> tuple[Path, ...]:
    """Make a plain folder's data files span-1, under their own names; return their new paths.

    They are hard-linked (copied where links are refused) into a hidden folder renamed to span-1
    in one step, and only then removed from the top: at every moment each file is readable in
    full under its old or its new name. Other files of the folder stay where they are.
    """
    files = plain_files(data_dir)
    if not files:
        return ()
    staging = Path(tempfile.mkdtemp(prefix=".span-1-", dir=data_dir))
    try:
        for path in files:
            _link_or_copy(path, staging / path.name)
        os.rename(staging, span_dir(data_dir, 1))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for path in files:
        path.unlink()
    return tuple(span_dir(data_dir, 1) / path.name for path in files)


def _link_or_copy(source: Path, target: Path) -> None:
    """A second name for the same bytes; a copy on file systems without hard links."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def landed_copy(source: Path, data_dir: Path) -> Path | None:
    """A data file of the data dir (any span, or the plain folder) with exactly `source`'s bytes."""
    size = source.stat().st_size
    folders = [span_dir(data_dir, s) for s in list_spans(data_dir)] or (
        [data_dir] if data_dir.is_dir() else [])
    candidates = [f for folder in folders for f in input_files.list_folder(folder).files
                  if f.stat().st_size == size]
    if not candidates:
        return None
    digest = file_sha256(source)
    return next((f for f in candidates if file_sha256(f) == digest), None)


def _span_of(path: Path, data_dir: Path) -> int:
    """The span a landed file belongs to: 1 for a file of the plain folder (its first span)."""
    spans = list_spans(data_dir)
    return next((s for s in spans if path.parent == span_dir(data_dir, s)), 1)


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
