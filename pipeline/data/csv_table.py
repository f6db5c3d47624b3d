"""The CSV data `init` profiles, read exactly as a run reads it: the files (`preflight.input_files`
and its record checks), every cell, CsvExampleGen's type of each column, TFDV statistics computed in
process, and a summary per column. TF-free at import: TFDV is imported inside `statistics`.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.data import csv_format, input_files, preflight
from pipeline.errors import InvalidInput

INT, FLOAT, STRING, EMPTY = "INT", "FLOAT", "STRING", "EMPTY"
_INT64 = (-(1 << 63), (1 << 63) - 1)


class ProfileError(InvalidInput):
    """The data or the arguments cannot make a project; nothing was written."""


@dataclass(frozen=True)
class Column:
    """One CSV column: its CsvExampleGen type and what its values look like."""

    name: str
    kind: str                      # INT, FLOAT, STRING, or EMPTY (no value at all)
    present: int                   # rows with a value
    missing: int
    distinct: int
    counts: Counter[str] = field(repr=False, default_factory=Counter)
    minimum: float | None = None   # numeric columns
    maximum: float | None = None
    mean: float | None = None
    std: float | None = None       # population standard deviation (TFDV's std_dev)

    @property
    def numeric(self) -> bool:
        return self.kind in (INT, FLOAT)

    @property
    def missing_share(self) -> float:
        return self.missing / max(self.present + self.missing, 1)


# --- reading the files as a run does ---------------------------------------------------------------

@dataclass(frozen=True)
class Table:
    """The parsed CSV data: raw cells per column (None for an empty cell), in file order."""

    files: tuple[Path, ...]
    header: tuple[str, ...]
    cells: dict[str, list[str | None]]

    @property
    def rows(self) -> int:
        return len(next(iter(self.cells.values()), []))


def data_files(path: Path) -> list[Path]:
    """The files a run reads for `--data`: the file itself, or what CsvExampleGen reads in a folder."""
    if not path.exists() and not path.is_symlink():
        raise ProfileError(f"{path}: no such file or folder")
    if not path.is_dir():
        problem = input_files.special_kind(path)
        if problem:
            raise ProfileError(f"{path}: {problem}")
        return [path]
    try:
        return preflight.input_files(path)
    except preflight.PreflightError as error:
        raise ProfileError(error.problems[0]) from None


def read_table(path: Path, max_row_bytes: int = 1 << 20) -> Table:
    """Check every file with the run's pre-flight record checks, then parse all the rows."""
    files = data_files(path)
    header: list[str] | None = None
    problems: list[str] = []
    for file in files:
        names = _header(file)
        expected = preflight.Columns(frozenset(names), frozenset(), f"{file}'s header")
        checked = preflight.check_csv_file(file, expected, max_row_bytes)
        problems += checked.problems
        if checked.header is not None and header is None:
            header = checked.header
        elif checked.header is not None and checked.header != header:
            problems.append(f"{file}: header differs from {files[0]}'s (a run needs one header "
                            "for every file)")
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise ProfileError(problems[0] + more)
    assert header is not None
    cells: dict[str, list[str | None]] = {name: [] for name in header}
    lists = [cells[name] for name in header]
    with csv_format.csv_field_limit(max_row_bytes):
        for file in files:
            with file.open(encoding="utf-8", newline="") as handle:
                records = csv.reader(handle)
                next(records)
                for record in records:
                    if not record or (len(record) == 1 and not record[0].strip()):
                        continue  # a blank line, skipped by CsvExampleGen too
                    for values, cell in zip(lists, record, strict=True):
                        values.append(cell if cell else None)
    return Table(tuple(files), tuple(header), cells)


def _header(file: Path) -> list[str]:
    """The names on a file's first line (undecodable bytes are the record checks' to report)."""
    with file.open("rb") as handle:
        first = handle.readline().decode("utf-8", "replace").rstrip("\r\n")
    return next(csv.reader([first]), [])


def inferred_kind(values: Sequence[str | None]) -> str:
    """CsvExampleGen's inference: INT if every value is an int64, else FLOAT if every one is a
    float, else STRING; a column without any value is EMPTY."""
    kind = EMPTY
    for value in values:
        if value is None:
            continue
        try:
            number = int(value)
            found = INT if _INT64[0] <= number <= _INT64[1] else STRING
        except ValueError:
            try:
                float(value)
                found = FLOAT
            except ValueError:
                found = STRING
        kind = max(kind, found, key=[EMPTY, INT, FLOAT, STRING].index)
        if kind == STRING:
            break
    return kind


def _typed(kind: str, values: Sequence[str | None]) -> list[Any]:
    convert = {INT: int, FLOAT: float, STRING: str, EMPTY: str}[kind]
    return [None if v is None else convert(v) for v in values]


def canonical(kind: str, value: str) -> str:
    """The value as a run sees it (`007` and `7` are the same INT)."""
    return str(int(value)) if kind == INT else value


# --- statistics ----------------------------------------------------------------------------------

def statistics(table: Table, kinds: dict[str, str]) -> Any:
    """TFDV statistics of the parsed rows, computed in process (no Beam)."""
    import pyarrow as pa
    import tensorflow_data_validation as tfdv
    from tensorflow_data_validation.statistics import stats_impl

    arrow = {INT: pa.large_list(pa.int64()), FLOAT: pa.large_list(pa.float32()),
             STRING: pa.large_list(pa.large_binary())}
    arrays = []
    for name in table.header:
        kind = kinds[name]
        if kind == EMPTY:
            arrays.append(pa.nulls(table.rows))
            continue
        values = _typed(kind, table.cells[name])
        if kind == STRING:
            values = [None if v is None else v.encode("utf-8") for v in values]
        arrays.append(pa.array([None if v is None else [v] for v in values], type=arrow[kind]))
    batch = pa.RecordBatch.from_arrays(arrays, list(table.header))
    return stats_impl.generate_statistics_in_memory(batch, tfdv.StatsOptions())


def column_summaries(
    table: Table, kinds: dict[str, str], stats: Any = None
) -> dict[str, Column]:
    """Per column: counts from the statistics (from the rows alone without them), distinct
    values from the rows."""
    by_name = {f.path.step[0]: f for f in stats.datasets[0].features} if stats is not None else {}
    columns = {}
    for name in table.header:
        kind = kinds[name]
        counts = Counter(canonical(kind, v) for v in table.cells[name] if v is not None)
        feature = by_name.get(name)
        numbers: dict[str, float | None] = {}
        if feature is not None and feature.HasField("num_stats"):
            common = feature.num_stats.common_stats
            s = feature.num_stats
            numbers = dict(minimum=s.min, maximum=s.max, mean=s.mean, std=s.std_dev)
        elif feature is not None and feature.HasField("string_stats"):
            common = feature.string_stats.common_stats
        else:
            common = None
        present = int(common.num_non_missing) if common else sum(counts.values())
        columns[name] = Column(name, kind, present, table.rows - present, len(counts), counts,
                               **numbers)
    return columns

