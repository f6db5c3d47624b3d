"""Profile a CSV file (or a folder of them) into a project: the task, one decision per column, the
thresholds, the slices and a curated schema, each with the reason a reviewer needs.

The files are found and checked exactly as a run reads them (`preflight.input_files` and its record
checks), parsed with CsvExampleGen's type inference, and described by TFDV statistics computed in
process. Decisions come from those statistics plus a few row-level checks the statistics cannot
answer (distinct numbers, a column that maps 1-1 onto the label, correlation with the label).
TF-free at import: TFDV is imported inside the functions that need it.
"""

from __future__ import annotations

import csv
import keyword
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config.project import TASK_METRICS, Feature, Project, Task, Threshold, Treatment
from pipeline.data import csv_format, input_files, preflight
from pipeline.errors import InvalidInput

# Limits of the decisions, as data.
MAX_CLASSES = 20               # an inferred multiclass label has at most this many values
MAX_CATEGORICAL_INT = 30       # non-negative integers with at most this many values are categories
MAX_VOCABULARY = 1000          # strings with more distinct values are hashed
MAX_HASH_BUCKETS = 10000
MAX_MISSING = 0.95             # columns missing in more rows than this are left out
LEAK_CORRELATION = 0.99        # |correlation| with the label above which a column is a suspect
MAX_SLICE_VALUES = 30          # a slice feature has at most this many values
MAX_SLICES = 2
NUMERIC_BUCKETS = 10
BINARY_MIN_AUC = 0.7
POSITIVE_NAMES = ("1", "true", "yes")

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


@dataclass(frozen=True)
class Decision:
    """What becomes of a column: the label, a feature with its treatment, or excluded; and why."""

    column: str
    role: str                      # "label", "feature" or "excluded"
    reason: str
    feature: Feature | None = None

    @property
    def summary(self) -> str:
        """The decision as one word: the task, the treatment, or 'excluded'."""
        return self.feature.treatment.value if self.feature else self.role


@dataclass(frozen=True)
class Profile:
    """Everything `init` decided about the data, ready to become a declaration and a schema."""

    files: tuple[Path, ...]
    rows: int
    label: str
    task: Task
    task_reason: str
    classes: tuple[str, ...]
    class_counts: dict[str, int]
    positive_class: str | None
    decisions: tuple[Decision, ...]
    thresholds: tuple[Threshold, ...]
    slices: tuple[str, ...]
    columns: dict[str, Column]
    warnings: tuple[str, ...]
    statistics: Any = field(repr=False)   # DatasetFeatureStatisticsList

    @property
    def features(self) -> tuple[Feature, ...]:
        return tuple(d.feature for d in self.decisions if d.feature)

    @property
    def excluded(self) -> dict[str, str]:
        return {d.column: d.reason for d in self.decisions if d.role == "excluded"}

    def decision(self, column: str) -> Decision:
        return next(d for d in self.decisions if d.column == column)

    def project(self, name: str, data: str, schema: str) -> Project:
        """The declaration; validated by parsing it back before anything is written."""
        return Project(
            name=name, data=data, schema=schema, label=self.label, task=self.task,
            features=self.features, positive_class=self.positive_class, classes=self.classes,
            label_columns=(self.label,), excluded=self.excluded, slices=self.slices,
            thresholds=self.thresholds, no_worse_than_serving=TASK_METRICS[self.task][0].name,
        )


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


def _kind(values: Sequence[str | None]) -> str:
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


def _canonical(kind: str, value: str) -> str:
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


def _columns(table: Table, kinds: dict[str, str], stats: Any) -> dict[str, Column]:
    """Per column: counts from the statistics, distinct values from the rows."""
    by_name = {f.path.step[0]: f for f in stats.datasets[0].features}
    columns = {}
    for name in table.header:
        kind = kinds[name]
        counts = Counter(_canonical(kind, v) for v in table.cells[name] if v is not None)
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


# --- the label and the task ----------------------------------------------------------------------

@dataclass(frozen=True)
class _Label:
    task: Task
    reason: str
    classes: tuple[str, ...]
    positive: str | None


def _label(column: Column, task: Task | None, positive: str | None) -> _Label:
    """The task (given or inferred), the classes in index order and the positive class."""
    name, n = column.name, column.distinct
    if column.present == 0:
        raise ProfileError(f"label column '{name}' is empty in every row")
    if n == 1:
        value = next(iter(column.counts))
        raise ProfileError(f"label column '{name}' has a single value ('{value}'): nothing to predict")
    if task is None:
        task, reason = _infer_task(column)
    else:
        reason = "given by --task"
        if task is Task.BINARY and n != 2:
            raise ProfileError(f"--task binary: label column '{name}' has {n} distinct values, "
                               "a binary label has two (use --task multiclass)")
        if task is Task.REGRESSION and not column.numeric:
            raise ProfileError(f"--task regression: label column '{name}' is not numeric "
                               f"(e.g. '{column.counts.most_common(1)[0][0]}')")
    if positive is not None and task is not Task.BINARY:
        raise ProfileError(f"--positive applies to a binary label; '{name}' is {task.value}")
    if task is Task.REGRESSION:
        return _Label(task, reason, (), None)
    classes = sorted(column.counts, key=(lambda v: int(v)) if column.kind == INT else None)
    if task is Task.MULTICLASS:
        return _Label(task, reason, tuple(classes), None)
    if positive is not None:
        chosen = _canonical(column.kind, positive) if _kind([positive]) == column.kind else positive
        if chosen not in classes:
            raise ProfileError(f"--positive {positive!r} is not a value of label column '{name}' "
                               f"(values: {', '.join(repr(c) for c in classes)})")
        positive = chosen
    else:
        named = [c for c in classes if c.strip().lower() in POSITIVE_NAMES]
        rarest = min(reversed(classes), key=lambda c: column.counts[c])
        positive = named[0] if named else rarest
    negative = next(c for c in classes if c != positive)
    return _Label(task, reason, (negative, positive), positive)


def _infer_task(column: Column) -> tuple[Task, str]:
    n = column.distinct
    if n == 2:
        return Task.BINARY, "two distinct values"
    if column.kind in (INT, STRING) and n <= MAX_CLASSES:
        return Task.MULTICLASS, f"{n} {'integer' if column.kind == INT else 'string'} classes"
    if column.numeric:
        return Task.REGRESSION, f"numeric with {n} distinct values"
    raise ProfileError(f"label column '{column.name}' has {n} distinct strings: too many classes "
                       f"to infer a multiclass task (at most {MAX_CLASSES}); pass --task multiclass "
                       "to keep them all")


def _label_codes(table: Table, column: Column, label: _Label) -> list[float | None]:
    """The label as numbers for correlation: the value (regression) or 1 for the positive class."""
    values = table.cells[column.name]
    if label.task is Task.REGRESSION:
        return [None if v is None else float(v) for v in values]
    if label.task is Task.BINARY:
        return [None if v is None else float(_canonical(column.kind, v) == label.positive)
                for v in values]
    if column.numeric:
        return [None if v is None else float(v) for v in values]
    return [None] * len(values)


# --- one decision per column ---------------------------------------------------------------------

def _decide(table: Table, column: Column, label: Column, task: Task,
            label_codes: list[float | None]) -> Decision:
    """The treatment of one non-label column, or why it is left out."""
    name, n = column.name, column.distinct
    if column.kind == EMPTY:
        return Decision(name, "excluded", "mostly empty (no value in any row)")
    if column.missing_share > MAX_MISSING:
        return Decision(name, "excluded", f"mostly empty ({column.missing_share:.0%} missing)")
    if n == 1:
        return Decision(name, "excluded", f"constant (always '{next(iter(column.counts))}')")
    leak = _leak(table, column, label, task, label_codes)
    if leak:
        return Decision(name, "excluded", f"possible label leak: {leak}")
    if n == column.present and column.present > 1 and not column.kind == FLOAT:
        if column.kind == STRING:
            return Decision(name, "excluded", "unique per row (an id, a row number or a timestamp)")
        if _row_number(table.cells[name]):
            return Decision(name, "excluded", "unique per row (a row number or an id)")
    if column.kind == INT and n <= MAX_CATEGORICAL_INT and column.minimum is not None \
            and column.minimum >= 0:
        low, top = int(column.minimum), int(column.maximum or 0)
        return Decision(name, "feature", f"{n} integer values in {low}..{top}: ids 0..{top}",
                        Feature(name, Treatment.CATEGORICAL, max_value=top + 1))
    if column.numeric:
        buckets = min(NUMERIC_BUCKETS, max(2, n))
        kind = "integer" if column.kind == INT else "float"
        return Decision(name, "feature", f"{kind} with {n} distinct values: z-score + {buckets} buckets",
                        Feature(name, Treatment.NUMERIC, buckets=buckets))
    if n <= MAX_VOCABULARY:
        return Decision(name, "feature", f"string with {n} distinct values: vocabulary",
                        Feature(name, Treatment.VOCABULARY))
    buckets = min(2 * n, MAX_HASH_BUCKETS)
    return Decision(name, "feature", f"string with {n} distinct values: hashed into {buckets} buckets",
                    Feature(name, Treatment.HASHED, buckets=buckets))


def _leak(table: Table, column: Column, label: Column, task: Task,
          label_codes: list[float | None]) -> str | None:
    """Why the column may carry the label itself, or None."""
    pairs = [(_canonical(column.kind, v), _canonical(label.kind, y))
             for v, y in zip(table.cells[column.name], table.cells[label.name], strict=True)
             if v is not None and y is not None]
    if not pairs:
        return None
    if all(v == y for v, y in pairs):
        return "identical to the label"
    if task is not Task.REGRESSION and column.distinct == label.distinct:
        forward = {v: {y} for v, y in pairs}
        for v, y in pairs:
            forward[v].add(y)
        backward: dict[str, set[str]] = {}
        for v, y in pairs:
            backward.setdefault(y, set()).add(v)
        if all(len(s) == 1 for s in forward.values()) and all(len(s) == 1 for s in backward.values()):
            return "a one-to-one mapping of the label"
    if column.numeric:
        r = _correlation(table.cells[column.name], label_codes)
        if r is not None and abs(r) > LEAK_CORRELATION:
            return f"correlation {r:+.3f} with the label"
    return None


def _correlation(values: Sequence[str | None], codes: Sequence[float | None]) -> float | None:
    import numpy as np

    pairs = [(float(v), c) for v, c in zip(values, codes, strict=True)
             if v is not None and c is not None]
    if len(pairs) < 3:
        return None
    x, y = np.array(pairs, dtype=float).T
    if x.std() == 0 or y.std() == 0:
        return None
    r = float(np.corrcoef(x, y)[0, 1])
    return None if math.isnan(r) else r


def _row_number(values: Sequence[str | None]) -> bool:
    """Integers unique per row that count rows: sorted, or a run of consecutive numbers."""
    numbers = [int(v) for v in values if v is not None]
    ascending = all(a < b for a, b in zip(numbers, numbers[1:], strict=False))
    descending = all(a > b for a, b in zip(numbers, numbers[1:], strict=False))
    return ascending or descending or max(numbers) - min(numbers) + 1 == len(numbers)


# --- thresholds and slices -----------------------------------------------------------------------

def thresholds(task: Task, label: Column) -> tuple[Threshold, ...]:
    """Blessing bounds a model must pass to be worth serving, from the label's distribution."""
    primary = TASK_METRICS[task][0].name  # auc, accuracy, rmse
    if task is Task.BINARY:
        return (Threshold(primary, lower=BINARY_MIN_AUC),)
    if task is Task.MULTICLASS:
        majority = max(label.counts.values()) / label.present
        return (Threshold(primary, lower=round(min(max(majority + 0.05, 0.5), 0.99), 3)),)
    # The mean predictor's RMSE is the label's standard deviation: a model must beat it.
    return (Threshold(primary, upper=float(f"{label.std or 0.0:.6g}")),)


def _slices(decisions: Sequence[Decision], columns: dict[str, Column]) -> tuple[str, ...]:
    """Up to two low-cardinality categorical or vocabulary features, in column order."""
    kinds = (Treatment.CATEGORICAL, Treatment.VOCABULARY)
    return tuple(d.column for d in decisions
                 if d.feature and d.feature.treatment in kinds
                 and columns[d.column].distinct <= MAX_SLICE_VALUES)[:MAX_SLICES]


# --- the whole profile ---------------------------------------------------------------------------

def profile(path: Path, label: str, task: Task | None = None, positive: str | None = None,
            max_row_bytes: int = 1 << 20) -> Profile:
    """Read the CSV file(s) at `path` and decide the project; ProfileError says why not."""
    table = read_table(path, max_row_bytes)
    if label not in table.header:
        raise ProfileError(f"no label column '{label}' in {table.files[0]} (columns: "
                           f"{', '.join(table.header)})")
    kinds = {name: _kind(table.cells[name]) for name in table.header}
    label_only = _columns(table, kinds, _no_stats())[label]
    chosen = _label(label_only, task, positive)     # refusals before TFDV is imported
    stats = statistics(table, kinds)
    columns = _columns(table, kinds, stats)
    label_column = columns[label]
    codes = _label_codes(table, label_column, chosen)
    decisions = [Decision(label, "label", f"{chosen.task.value}: {chosen.reason}")]
    for name in table.header:
        if name != label:
            decisions.append(_decide(table, columns[name], label_column, chosen.task, codes))
    features = [d for d in decisions if d.feature]
    if not features:
        raise ProfileError(f"no usable feature column: every column but '{label}' is excluded "
                           f"({'; '.join(f'{d.column}: {d.reason}' for d in decisions[1:])})")
    warnings = []
    if label_column.missing:
        warnings.append(f"label column '{label}' is empty in {label_column.missing} of "
                        f"{table.rows} rows")
    counts = {c: label_column.counts[c] for c in chosen.classes}
    return Profile(
        files=table.files, rows=table.rows, label=label, task=chosen.task,
        task_reason=chosen.reason, classes=chosen.classes, class_counts=counts,
        positive_class=chosen.positive, decisions=tuple(decisions),
        thresholds=thresholds(chosen.task, label_column), slices=_slices(decisions, columns),
        columns=columns, warnings=tuple(warnings), statistics=stats,
    )


class _NoStats:
    """Statistics without features: _columns then counts from the rows alone."""

    class _Dataset:
        features: tuple[()] = ()

    datasets = (_Dataset(),)


def _no_stats() -> Any:
    return _NoStats()


def check_name(name: str) -> None:
    """A project name is a Python identifier: it names models/<name>/ and its Python package."""
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        raise ProfileError(f"invalid project name {name!r}: use letters, digits and underscores, "
                           "starting with a letter (a Python identifier)")


# --- the curated schema --------------------------------------------------------------------------

def curated_schema(result: Profile) -> Any:
    """SchemaGen's inference from the statistics, tightened the way data/schema/schema.pbtxt is:
    presence from the observed rates, integer ranges of categorical features, the label absent at
    serving (TRAINING and SERVING environments), excluded columns kept but not checked."""
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2

    from pipeline.data.validation import SERVING, TRAINING

    schema = tfdv.infer_schema(result.statistics, infer_feature_shape=False)
    decisions = {d.column: d for d in result.decisions}
    for feature in schema.feature:
        decision = decisions[feature.name]
        column = result.columns[feature.name]
        if decision.role == "excluded":
            feature.presence.Clear()
            feature.presence.min_count = 0
            feature.ClearField("domain")
            feature.lifecycle_stage = schema_pb2.LifecycleStage.DEPRECATED
            continue
        if column.missing and column.present:
            # Observed share, rounded down to whole percents: a later span may miss a little more.
            feature.presence.min_fraction = math.floor(100 * (1 - column.missing_share)) / 100
            # CsvExampleGen writes an empty cell as the feature with no value, not as no feature:
            # such rows have 0 values, which value_count.min 1 would reject as an anomaly.
            feature.value_count.ClearField("min")
        if decision.feature and decision.feature.treatment is Treatment.CATEGORICAL:
            feature.int_domain.min = 0
            feature.int_domain.max = decision.feature.max_value - 1
            feature.int_domain.is_categorical = True
        elif column.numeric and column.minimum is not None and column.minimum >= 0 \
                and decision.role == "feature":
            domain = feature.int_domain if column.kind == INT else feature.float_domain
            domain.min = 0
        if decision.role == "label":
            if column.kind == INT and result.classes:
                feature.int_domain.min = min(int(c) for c in result.classes)
                feature.int_domain.max = max(int(c) for c in result.classes)
                feature.int_domain.is_categorical = True
            feature.not_in_environment.append(SERVING)
    used = {f.domain for f in schema.feature if f.HasField("domain")}
    kept = [d for d in schema.string_domain if d.name in used]
    del schema.string_domain[:]
    schema.string_domain.extend(kept)
    label_domain = next((f.domain for f in schema.feature if f.name == result.label and f.domain), None)
    if result.classes and label_domain:
        domain = next(d for d in schema.string_domain if d.name == label_domain)
        missing = [c for c in result.classes if c not in domain.value]
        domain.value.extend(missing)
    schema.default_environment.extend([TRAINING, SERVING])
    return schema


def schema_text(schema: Any, result: Profile) -> str:
    """The schema as text, with a header saying where it came from."""
    from google.protobuf import text_format

    files = ", ".join(str(f) for f in result.files[:3]) + (" ..." if len(result.files) > 3 else "")
    header = (f"# Curated schema inferred by `python -m pipeline init` from {result.rows} rows of "
              f"{files}.\n# SchemaGen's inference, then: presence from the observed rates, integer "
              "ranges of categorical\n# features, the label absent at SERVING, excluded columns kept "
              "but DEPRECATED (not checked).\n# ExampleValidator checks every span against it: "
              "review and tighten it by hand.\n")
    return header + text_format.MessageToString(schema)
