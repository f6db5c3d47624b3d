"""Data spans: `span-N` folders of CSV files, generated for demos, landed atomically."""

from __future__ import annotations

import csv
import datetime as dt
import os
import random
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from models import features
from pipeline import schema_environments
from pipeline.config import BeamMode, ConfigError, PipelineConfig, SpanSelection

SPAN_PREFIX = "span-"
SPAN_PATTERN = SPAN_PREFIX + "{SPAN}/*.csv"
SPAN_FILE = "data.csv"
_SPAN_DIR = re.compile(rf"^{SPAN_PREFIX}(\d+)$")


class SpanError(ConfigError):
    """A span folder or a file to ingest is unusable; the message names it and why."""


def list_spans(data_dir: Path) -> list[int]:
    """Span numbers of the `span-N` folders in the data dir, ascending."""
    if not data_dir.is_dir():
        return []
    numbers = [_SPAN_DIR.match(p.name) for p in data_dir.iterdir() if p.is_dir()]
    return sorted(int(m.group(1)) for m in numbers if m)


def span_dir(data_dir: Path, span: int) -> Path:
    """Folder of one span."""
    return data_dir / f"{SPAN_PREFIX}{span}"


def span_files(data_dir: Path, span: int) -> list[Path]:
    """The CSV files ExampleGen reads for a span, sorted."""
    return sorted(span_dir(data_dir, span).glob("*.csv"))


def resolve_spans(data_dir: Path, selection: SpanSelection) -> tuple[int, ...]:
    """The spans a run reads, ascending: () for a plain folder of CSVs, else the selected window."""
    found = list_spans(data_dir)
    if selection.newest is not None:
        return tuple(found[-selection.newest:])
    if not found:
        raise SpanError(f"{data_dir} has no span-N folders, cannot select spans {selection}")
    wanted = range(selection.first, selection.last + 1)
    missing = [span for span in wanted if span not in found]
    if missing:
        raise SpanError(
            f"{data_dir} is missing span(s) {', '.join(map(str, missing))} of the selected "
            f"range {selection} (spans: {found})"
        )
    return tuple(wanted)


def input_folders(data_dir: Path, window: tuple[int, ...]) -> list[Path]:
    """The folders a run reads CSV files from: each span's of the window, or data_dir itself."""
    return [span_dir(data_dir, span) for span in window] or [data_dir]


def window_text(window: tuple[int, ...]) -> str:
    """A resolved window as a `spans` value that selects exactly it again ('3', '2-4')."""
    return str(window[0]) if len(window) == 1 else f"{window[0]}-{window[-1]}"


def input_bytes(data_dir: Path | str, selection: SpanSelection) -> int:
    """Size of the CSV files a run reads; 0 for a URI, which only the cluster can list."""
    if "://" in str(data_dir):
        return 0
    folders = input_folders(Path(data_dir), resolve_spans(Path(data_dir), selection))
    return sum(path.stat().st_size for folder in folders for path in folder.glob("*.csv"))


def with_beam_mode_for_input(config: PipelineConfig) -> PipelineConfig:
    """The config with an `auto` Beam mode decided by the size of what the run reads (the mode
    is recorded resolved, so every runner and the unchanged-run check resolve it here)."""
    if config.beam_mode is not BeamMode.AUTO:
        return config
    return config.for_input_size(input_bytes(config.data_dir, config.spans))


def data_fingerprint(files: list[Path]) -> str:
    """sha256 over the file names and bytes a run reads, to detect altered inputs."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Drift:
    """How a generated span departs from the source: a category mix shift and scaled fares."""

    moved_fraction: float = 0.0
    fare_factor: float = 1.0


NO_DRIFT = Drift()
DEMO_DRIFT = Drift(moved_fraction=0.9, fare_factor=1.5)


def read_rows(source: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a CSV file."""
    with source.open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _shift_time(row: dict[str, str], days: int) -> None:
    """Move the trip start by whole days and re-derive month, weekday and hour from it."""
    stamp = row.get(features.TIMESTAMP_KEY, "")
    if not stamp:
        return
    start = dt.datetime.fromtimestamp(int(stamp), tz=dt.timezone.utc) + dt.timedelta(days=days)
    row[features.TIMESTAMP_KEY] = str(int(start.timestamp()))
    row[features.MONTH_KEY] = str(start.month)
    row[features.WEEKDAY_KEY] = str(start.isoweekday() % 7 + 1)
    row[features.HOUR_KEY] = str(start.hour)


def _apply_drift(row: dict[str, str], drift: Drift, rng: random.Random) -> None:
    """Shift the payment mix and scale fares (tips keep their amount, so tipping looks rarer)."""
    if row.get(features.PAYMENT_TYPE_KEY) == features.DRIFT_FROM_VALUE:
        if rng.random() < drift.moved_fraction:
            row[features.PAYMENT_TYPE_KEY] = features.DRIFT_TO_VALUE
    if row.get(features.FARE_KEY) and drift.fare_factor != 1.0:
        row[features.FARE_KEY] = f"{float(row[features.FARE_KEY]) * drift.fare_factor:.2f}"


def generate_rows(
    source: Path, count: int, seed: int, days: int, drift: Drift = NO_DRIFT
) -> tuple[list[str], list[dict[str, str]]]:
    """`count` rows resampled with a seed from the source, shifted by `days`, maybe drifted."""
    header, rows = read_rows(source)
    rng = random.Random(seed)
    sampled = [dict(rng.choice(rows)) for _ in range(count)]
    for row in sampled:
        _shift_time(row, days)
        _apply_drift(row, drift, rng)
    return header, sampled


def write_rows(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    """Write rows as CSV with the given header order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_span(data_dir: Path, span: int, header: list[str], rows: list[dict[str, str]]) -> Path:
    """Write a span folder directly (building demo and test data dirs; ingest validates instead)."""
    return write_rows(span_dir(data_dir, span) / SPAN_FILE, header, rows)


# ---- ingest: validate a file in a hidden folder of the data dir, then rename it to span-N+1 ----


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


def schema_columns(schema: object, environment: str = schema_environments.TRAINING) -> set[str]:
    """Names of the schema's features present in an environment (deprecated ones included)."""
    names = set()
    for feature in schema.feature:
        excluded = environment in feature.not_in_environment
        included = not feature.in_environment or environment in feature.in_environment
        if included and not excluded:
            names.add(feature.name)
    return names


def statistics_anomalies(csv_path: Path, schema: object, environment: str) -> list[str]:
    """TFDV statistics of a CSV file validated against the schema, one line per anomaly."""
    import tensorflow_data_validation as tfdv

    options = tfdv.StatsOptions(schema=schema, infer_type_from_schema=True)
    statistics = tfdv.generate_statistics_from_csv(
        str(csv_path), stats_options=options, pipeline_options=None
    )
    anomalies = tfdv.validate_statistics(
        statistics, schema, environment=schema_environments.declared(schema, environment)
    )
    return [
        f"feature '{name}': " + "; ".join(r.description or r.short_description for r in info.reason)
        for name, info in sorted(anomalies.anomaly_info.items())
    ]


def load_schema(schema_path: Path) -> object:
    """The curated schema proto."""
    import tensorflow_data_validation as tfdv

    return tfdv.load_schema_text(str(schema_path))


def ingest(source: Path, data_dir: Path, schema_path: Path) -> int:
    """Land `source` as the next span after checking its columns and statistics; return its number.

    The file is copied into a hidden folder of the data dir (invisible to ExampleGen's pattern),
    validated there, then renamed to span-N+1 in one step; on any problem the folder is removed and
    existing spans are untouched.
    """
    if not source.is_file():
        raise SpanError(f"{source} is not a file")
    if data_dir.is_dir() and not list_spans(data_dir) and any(data_dir.glob("*.csv")):
        raise SpanError(
            f"{data_dir} is a plain folder of CSV files, not span-N folders: ingest into a new "
            "or span-organized data dir"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    schema = load_schema(schema_path)
    header, _ = _header_only(source)
    check_columns(header, schema_columns(schema), source)
    staging = Path(tempfile.mkdtemp(prefix=".ingest-", dir=data_dir))
    try:
        landed = shutil.copy(source, staging / SPAN_FILE)
        problems = statistics_anomalies(Path(landed), schema, schema_environments.TRAINING)
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
    with source.open(newline="") as handle:
        header = next(csv.reader(handle), None)
        if not header:
            raise SpanError(f"{source} is empty")
        rows = sum(1 for _ in handle)
    if rows == 0:
        raise SpanError(f"{source} has a header but no rows")
    return header, rows
