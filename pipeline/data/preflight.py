"""Cheap checks before any component runs: input CSV files against the schema, and storage.

CsvExampleGen fails late and vaguely on a broken file (a missing header column surfaces as a
Transform KeyError minutes later), so the runner reads every input file once up front, the way
CsvExampleGen will, and names the file, line and column of each problem. It imports no
TensorFlow: other runners can call `check_data_dir` (or `python -m pipeline check-data`) as a
first task."""

from __future__ import annotations

import csv
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pipeline.config.project import DECLARATION_FILE, Project, Task
from pipeline.config.settings import Location, is_uri
from pipeline.data import csv_format
from pipeline.data.input_files import PreflightError, data_files, list_folder

MAX_PROBLEMS_PER_FILE = 10
# Fewer rows than this leave an eval split (a quarter) too small to judge a model on.
MIN_ROWS = 50
# A class seen fewer times than this may be absent from one split, and cannot be learnt.
MIN_CLASS_ROWS = 5


MB = 1 << 20


@dataclass(frozen=True)
class Columns:
    """The columns a CSV header may name, and those it must name."""

    known: frozenset[str]
    required: frozenset[str]
    source: str
    min_filled: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Tallied:
    """The columns whose values are counted over every file: the label of a classification
    project whose label is a CSV column (rows per class), and the declared id column."""

    label: str | None = None
    id_column: str | None = None

    @classmethod
    def of(cls, project: Project) -> Tallied:
        """The project's label (unless a regression or derived by its preprocessing_fn) and id."""
        derived = project.label_columns and project.label_columns != (project.label,)
        counted = project.task is not Task.REGRESSION and not derived
        return cls(project.label if counted else None, project.id_column)


@dataclass(frozen=True)
class DataReport:
    """What the data check read: for the console line, and the label's classes counted."""

    files: int
    rows: int
    labels: Counter[str] = field(default_factory=Counter)


def expected_columns(schema_path: Path | None, project: Project) -> Columns:
    """Schema features (or the project's declaration when inferring); the columns the model and
    the label read are always required."""
    needed = set(project.feature_names) | set(project.label_columns)
    if schema_path is None:
        known = needed | set(project.excluded)
        source = str(project.directory / DECLARATION_FILE) if project.directory else project.name
        return Columns(frozenset(known), frozenset(needed), source)
    from pipeline.data.validation import load_curated_schema

    schema = load_curated_schema(schema_path)
    present = {
        f.name for f in schema.feature
        if f.presence.min_count > 0 or f.presence.min_fraction > 0
    }
    known = {f.name for f in schema.feature}
    # CsvExampleGen turns an empty cell into a feature with no value, which TFDV counts as
    # present: the schema's presence fractions only bound empty cells if checked here, relaxed to
    # the declared share as the DataGate relaxes them (pipeline.data.validation.bounded_schema).
    min_filled = {
        f.name: min(f.presence.min_fraction, 1.0 - project.validation.max_missing_share)
        for f in schema.feature if f.presence.min_fraction
    }
    return Columns(frozenset(known), frozenset(present | needed), str(schema_path), min_filled)


def input_files(data_dir: Path) -> list[Path]:
    """What CsvExampleGen reads in the folder (pipeline.data.input_files has the rule)."""
    return data_files(data_dir)


def check_data_dir(
    data_dir: Path, schema_path: Path | None, max_row_bytes: int, project: Project
) -> DataReport:
    """Check every input file; raise PreflightError listing all problems found."""
    columns = expected_columns(schema_path, project)
    tallied = Tallied.of(project)
    listing = list_folder(data_dir)
    problems = list(listing.problems)
    rows = 0
    empty: Counter[str] = Counter()
    labels: Counter[str] = Counter()
    ids: list[tuple[str, str]] = []
    first_header: tuple[Path, list[str]] | None = None
    files = listing.files
    for path in files:
        checked = check_csv_file(path, columns, max_row_bytes, tallied)
        problems += checked.problems
        rows += checked.rows
        empty.update(checked.empty)
        labels.update(checked.labels)
        ids += checked.ids
        if checked.header is None:
            continue
        if first_header is None:
            first_header = (path, checked.header)
        elif checked.header != first_header[1]:
            problems.append(f"{path}: header differs from {first_header[0]}'s (CsvExampleGen "
                            "needs one header for every file)")
    if not problems:
        problems += _emptiness_problems(empty, rows, columns)
        problems += _id_problems(ids, tallied)
    if problems:
        raise PreflightError(f"input data check failed in {data_dir}", problems)
    return DataReport(files=len(files), rows=rows, labels=labels)


def check_window(data_dir: Path, reports: Sequence[DataReport], project: Project) -> None:
    """The rows a run trains on, every checked folder of its span window together: enough for a
    train and an eval split, and each declared class frequent enough to be in both."""
    rows = sum(r.rows for r in reports)
    labels: Counter[str] = sum((r.labels for r in reports), Counter())
    problems = size_problems(data_dir, rows, Tallied.of(project).label,
                             _class_counts(labels, project.classes), project.classes)
    if problems:
        raise PreflightError(f"input data check failed in {data_dir}", problems)


@dataclass
class FileCheck:
    """Problems, data rows and the header of one file."""

    problems: list[str]
    rows: int = 0
    header: list[str] | None = None
    empty: Counter[str] = field(default_factory=Counter)
    labels: Counter[str] = field(default_factory=Counter)
    ids: list[tuple[str, str]] = field(default_factory=list)


def check_csv_file(path: Path, columns: Columns, max_row_bytes: int,
                   tallied: Tallied = Tallied()) -> FileCheck:
    """Header against the schema, then each record: encoding, size, field count."""
    with path.open("rb") as handle, csv_format.csv_field_limit(max_row_bytes):
        records = _records(handle, max_row_bytes)
        first = next(records, None)
        if first is None:
            return FileCheck([f"{path}: file is empty; the first line must name the columns"])
        _, header_text, header_error = first
        if header_error:
            return FileCheck([f"{path}:1: header {header_error}"])
        try:
            header = next(csv.reader([header_text]), [])
        except csv.Error as error:
            return FileCheck([f"{path}:1: header is not a CSV line ({error}; lines must end "
                               "in \\n or \\r\\n)"])
        header_problems = _header_problems(header, columns)
        if header != csv_format.header_names(header_text):
            header_problems.append("column names must be plain and comma-separated, without "
                                   "quotes or surrounding spaces (CsvExampleGen splits the first "
                                   "line on commas)")
        if header_problems:
            return FileCheck([f"{path}:1: {p}" for p in header_problems], header=header)
        checked = _check_records(path, header, records, tallied)
        if not checked.problems:
            handle.seek(0)
            problem = csv_format.arrow_problem(handle, header, path.stat().st_size)
            checked.problems += [f"{path}: {problem}"] if problem else []
        return checked


def _check_records(
    path: Path, header: list[str], records: Iterator[tuple[int, str, str | None]], tallied: Tallied
) -> FileCheck:
    """Each data record parses to as many fields as the header names; the tallied columns'
    values are kept (the id's with the record's place, for naming a duplicate)."""
    result = FileCheck([], header=header)
    label = header.index(tallied.label) if tallied.label in header else None
    id_index = header.index(tallied.id_column) if tallied.id_column in header else None
    extra = 0
    for line, text, error in records:
        if not error and not text.strip():
            continue  # CsvExampleGen skips blank lines
        cells, problem = ([], error) if error else _parse_record(text, header)
        if not problem:
            result.rows += 1
            result.empty.update(name for name, cell in zip(header, cells, strict=True) if not cell)
            if label is not None:
                result.labels[cells[label].strip()] += 1
            if id_index is not None:
                result.ids.append((cells[id_index].strip(), f"{path}:{line}"))
        elif len(result.problems) < MAX_PROBLEMS_PER_FILE:
            result.problems.append(f"{path}:{line}: {problem}")
        else:
            extra += 1
    if extra:
        result.problems.append(f"{path}: ... and {extra} more problem lines")
    if not result.problems and result.rows == 0:
        result.problems.append(f"{path}: has a header but no data rows")
    return result


def _emptiness_problems(empty: Counter[str], rows: int, columns: Columns) -> list[str]:
    """Columns empty in more rows than the schema's presence.min_fraction allows."""
    problems = []
    for name, min_fraction in sorted(columns.min_filled.items()):
        if rows and 1 - empty[name] / rows < min_fraction:
            problems.append(
                f"column '{name}' is empty in {empty[name]} of {rows} rows "
                f"({empty[name] / rows:.1%}); at most {1 - min_fraction:.1%} is allowed (the "
                f"looser of {columns.source}'s presence.min_fraction and the declaration's "
                "validation.max_missing_share)"
            )
    return problems


def size_problems(where: Path, rows: int, label: str | None, counts: Mapping[str, int],
                  classes: tuple[str, ...]) -> list[str]:
    """Too few rows for a train and an eval split, or a class of the label too rare to be in both
    (`label` None: not counted, a regression or a label the preprocessing_fn derives)."""
    if rows < MIN_ROWS:
        return [f"{where}: {rows} rows; at least {MIN_ROWS} are needed for a train and an eval split"]
    rare = {c: counts.get(c, 0) for c in classes if counts.get(c, 0) < MIN_CLASS_ROWS}
    if label is None or not rare:
        return []
    listed = ", ".join(f"{c!r} {n} time(s)" for c, n in rare.items())
    return [f"{where}: label column '{label}': class {listed}; each class needs at least "
            f"{MIN_CLASS_ROWS} rows (drop or merge rare classes)"]


def _class_counts(labels: Counter[str], classes: tuple[str, ...]) -> dict[str, int]:
    """Rows per declared class; an integer class also counts its other spellings (`07` is 7, as
    CsvExampleGen reads an INT column)."""
    return {c: sum(n for value, n in labels.items() if value == c or _same_integer(value, c))
            for c in classes}


def _same_integer(value: str, declared: str) -> bool:
    """Both are integers, and equal."""
    try:
        return int(value) == int(declared)
    except ValueError:
        return False


def _id_problems(ids: list[tuple[str, str]], tallied: Tallied) -> list[str]:
    """The id column names one row each: every value present and unique (`score` keys rows by it)."""
    problems: list[str] = []
    first: dict[str, str] = {}
    for value, where in ids:
        if not value:
            problems.append(f"{where}: id column '{tallied.id_column}' is empty")
        elif value in first:
            problems.append(f"{where}: id column '{tallied.id_column}' is not unique: {value!r} "
                            f"also on {first[value]}")
        else:
            first[value] = where
    more = len(problems) - MAX_PROBLEMS_PER_FILE
    return problems[:MAX_PROBLEMS_PER_FILE] + ([f"... and {more} more rows"] if more > 0 else [])


def _parse_record(text: str, header: list[str]) -> tuple[list[str], str | None]:
    """The record's cells, or the reason it does not have one cell per header column."""
    try:
        cells = next(csv.reader([text]), [])
    except csv.Error as error:
        return [], f"unreadable CSV record ({error})"
    if len(cells) != len(header):
        return [], f"{len(cells)} fields, the header has {len(header)}"
    return cells, None


def _header_problems(header: list[str], columns: Columns) -> list[str]:
    """Missing required columns, unknown columns and duplicates, each named."""
    problems = []
    missing = sorted(columns.required - set(header))
    unknown = [name for name in header if name not in columns.known]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if missing:
        problems.append(f"missing column(s) {_names(missing)} required by {columns.source}")
    if unknown:
        problems.append(f"unknown column(s) {_names(unknown)} not in {columns.source}")
    if duplicated:
        problems.append(f"duplicated column(s) {_names(duplicated)}")
    return problems


def _names(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


def _records(handle: BinaryIO, max_row_bytes: int) -> Iterator[tuple[int, str, str | None]]:
    """(first line number, text, problem) per CSV record, joining lines inside quotes as
    CsvExampleGen does; stops at a line too long to read safely."""
    line_number, start, size, inside = 0, 0, 0, False
    parts: list[str] = []
    while raw := handle.readline(max_row_bytes + 1):
        line_number += 1
        start = start or line_number
        size += len(raw)
        if size > max_row_bytes:
            yield start, "", (f"record longer than {max_row_bytes} bytes (max_row_bytes); "
                              "a field this large is not tabular data, the rest was not read")
            return
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            yield line_number, "", _encoding_problem(raw, error, line_number == 1)
            start, parts, size, inside = 0, [], 0, False
            continue
        parts.append(text)
        inside = _inside_quotes(text, inside)
        if not inside:
            yield start, "".join(parts).rstrip("\r\n"), None
            start, parts, size = 0, [], 0
    if parts:
        yield start, "", "unbalanced quotes: the record never ends"


def _inside_quotes(line: str, inside: bool) -> bool:
    """Whether a record is still inside a quoted field after this line: as in Arrow's and
    Python's readers, a quote opens a field only at its start, and "" inside one is a quote."""
    if '"' not in line:
        return inside
    field_start, i = not inside, 0
    while i < len(line):
        char = line[i]
        if inside and char == '"':
            if line[i + 1:i + 2] == '"':
                i += 1
            else:
                inside = False
        elif not inside:
            inside = char == '"' and field_start
            field_start = char == ","
        i += 1
    return inside


def _encoding_problem(raw: bytes, error: UnicodeDecodeError, is_header: bool) -> str:
    """Where the bad bytes are: byte offset, and the column when the line's fields are known."""
    prefix = raw[: error.start].decode("utf-8", "replace")
    try:
        position = len(next(csv.reader([prefix]), [""])) if prefix else 1
    except csv.Error:  # a NUL byte, a stray line break: the field is not known
        position, is_header = 0, True
    where = "" if is_header else f" in field {position}"
    bad = raw[error.start : error.start + 4]
    return f"not valid UTF-8{where} (bytes {bad!r} at byte {error.start + 1} of the line)"


def _nearest_existing(path: Path) -> Path:
    """The path itself or its closest existing ancestor: where creating it would write."""
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path


def storage_problems(name: str, path: Location, min_free_mb: int) -> list[str]:
    """Whether a run can create and fill `path`: writable, a folder, enough free space. A URI
    (gs://...) is an object store this machine's disk says nothing about: nothing to check here."""
    if is_uri(path):
        return []
    path = Path(path)
    if path.exists() and not path.is_dir():
        return [f"{name} {path}: exists and is not a directory"]
    target = _nearest_existing(path)
    try:
        with tempfile.TemporaryFile(dir=target, prefix=".write-probe-"):
            pass
    except OSError as error:
        return [f"{name} {path}: not writable ({error.strerror} in {target})"]
    free_mb = shutil.disk_usage(target).free / MB
    if free_mb < min_free_mb:
        return [f"{name} {path}: only {free_mb:.1f} MB free on its file system, "
                f"at least {min_free_mb} MB needed (min_free_mb)"]
    return []


def check_storage(folders: Mapping[str, Location], min_free_mb: int) -> None:
    """Every folder a run writes to, checked before any work; raise naming each failing one."""
    problems = [
        problem
        for name, path in folders.items()
        for problem in storage_problems(name, path, min_free_mb)
    ]
    if problems:
        raise PreflightError("storage check failed, nothing was run", problems)
