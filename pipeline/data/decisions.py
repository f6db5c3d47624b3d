"""What `init` decides from the data: the label's task and classes, one treatment per column (or
why it is left out), the blessing thresholds and the slices. Decisions come from the statistics
plus a few row-level checks the statistics cannot answer (distinct numbers, a column that maps 1-1
onto the label, correlation with the label).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.config.project import TASK_METRICS, Feature, Task, Threshold, Treatment
from pipeline.data.csv_table import (
    EMPTY,
    FLOAT,
    INT,
    STRING,
    Column,
    ProfileError,
    Table,
    canonical,
    inferred_kind,
)

# Limits of the decisions, as data.
MAX_CLASSES = 20               # an inferred multiclass label has at most this many values
MAX_CATEGORICAL_INT = 30       # integer codes with at most this many values, and below
MAX_CATEGORICAL_ID = 1000      # this value, are categorical ids; other codes go through a vocabulary
# The last word of a column name that says its integers are codes, not quantities.
CODE_WORDS = frozenset({"id", "code", "zip", "zipcode", "postcode", "postal", "fips", "type", "kind",
                        "class", "category", "cat", "group", "status", "flag", "region", "area",
                        "tract", "district", "county", "ward", "precinct", "station", "store", "sku"})
# Integers with few values spread thin over a wide range (e.g. 101, 205, 310) are codes too.
SPARSE_CODE_MIN = 100
SPARSE_CODE_DENSITY = 0.1
MAX_VOCABULARY = 1000          # strings with more distinct values are hashed
NEARLY_UNIQUE = 0.9            # ... unless over this share of rows have their own value: excluded
DUPLICATE_CORRELATION = 0.999  # |correlation| from which a numeric column repeats an earlier one
MAX_HASH_BUCKETS = 10000
MAX_MISSING = 0.95             # columns missing in more rows than this are left out
LEAK_CORRELATION = 0.99        # |correlation| with the label above which a column is a suspect
MAX_SLICE_VALUES = 30          # a slice feature has at most this many values
MAX_SLICES = 2
NUMERIC_BUCKETS = 10
# A quantile bucket's own weights need about this many rows: with fewer rows per bucket a numeric
# column is z-scored only (on a few hundred rows, buckets fit noise: diabetes RMSE +30 %).
ROWS_PER_BUCKET = 100
# The network's L2 penalty a new project gets: this over the row count (a prior worth as many
# rows), never below the model's own default (1e-3, what 20,000 rows give).
L2_ROWS = 20.0
DEFAULT_L2 = 1e-3
# The default blessing gate of a new project: no worse than the linear baseline by more than this.
# A live AUC below this (chance plus 0.1) on labelled production rows is an alert (`feedback`).
LIVE_MIN_AUC = 0.6
BASELINE_MARGINS = {Task.BINARY: 0.01, Task.MULTICLASS: 0.02, Task.REGRESSION: 0.05}
POSITIVE_NAMES = ("1", "true", "yes")
# The start of the reason a column unique per row is excluded with: such a column may identify rows.
UNIQUE_PER_ROW = "unique per row"


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


# --- the label and the task ----------------------------------------------------------------------

@dataclass(frozen=True)
class Label:
    """The label's task and why, its classes in index order and the positive class."""

    task: Task
    reason: str
    classes: tuple[str, ...]
    positive: str | None


def choose_label(column: Column, task: Task | None, positive: str | None) -> Label:
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
        return Label(task, reason, (), None)
    classes = sorted(column.counts, key=(lambda v: int(v)) if column.kind == INT else None)
    if task is Task.MULTICLASS:
        return Label(task, reason, tuple(classes), None)
    if positive is not None:
        chosen = canonical(column.kind, positive) if inferred_kind([positive]) == column.kind else positive
        if chosen not in classes:
            raise ProfileError(f"--positive {positive!r} is not a value of label column '{name}' "
                               f"(values: {', '.join(repr(c) for c in classes)})")
        positive = chosen
    else:
        named = [c for c in classes if c.strip().lower() in POSITIVE_NAMES]
        rarest = min(reversed(classes), key=lambda c: column.counts[c])
        positive = named[0] if named else rarest
    negative = next(c for c in classes if c != positive)
    return Label(task, reason, (negative, positive), positive)


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


def label_as_numbers(table: Table, column: Column, label: Label) -> list[float | None]:
    """The label as numbers for correlation: the value (regression) or 1 for the positive class."""
    values = table.cells[column.name]
    if label.task is Task.REGRESSION:
        return [None if v is None else float(v) for v in values]
    if label.task is Task.BINARY:
        return [None if v is None else float(canonical(column.kind, v) == label.positive)
                for v in values]
    if column.numeric:
        return [None if v is None else float(v) for v in values]
    return [None] * len(values)


# --- one decision per column ---------------------------------------------------------------------

def decide(table: Table, column: Column, label: Column, task: Task,
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
            return Decision(name, "excluded", f"{UNIQUE_PER_ROW} (an id, a row number or a timestamp)")
        if _row_number(table.cells[name]):
            return Decision(name, "excluded", f"{UNIQUE_PER_ROW} (a row number or an id)")
    code = _code_evidence(column) if column.kind == INT else None
    if code is not None:
        return _code_decision(column, code)
    if column.numeric:
        buckets, how = numeric_buckets(n, table.rows)
        kind = ("count or ordered integer" if column.kind == INT and (column.minimum or 0) >= 0
                else "integer" if column.kind == INT else "float")
        return Decision(name, "feature", f"{kind} with {n} distinct values in "
                        f"{column.minimum:g}..{column.maximum:g}: {how}",
                        Feature(name, Treatment.NUMERIC, buckets=buckets))
    if n <= MAX_VOCABULARY:
        return Decision(name, "feature", f"string with {n} distinct values: vocabulary",
                        Feature(name, Treatment.VOCABULARY))
    if n > NEARLY_UNIQUE * column.present:
        return Decision(name, "excluded", f"nearly unique per row ({n} distinct values in "
                        f"{column.present} rows, {n / column.present:.0%}): free text or an id")
    buckets = min(2 * n, MAX_HASH_BUCKETS)
    return Decision(name, "feature", f"string with {n} distinct values: hashed into {buckets} buckets",
                    Feature(name, Treatment.HASHED, buckets=buckets))


def numeric_buckets(distinct: int, rows: int) -> tuple[int, str]:
    """A numeric column's quantile buckets beside its z-score (0: none) and how it reads."""
    wanted = min(NUMERIC_BUCKETS, max(2, distinct))
    if rows >= ROWS_PER_BUCKET * wanted:
        return wanted, f"z-score + {wanted} buckets"
    return 0, (f"z-score, no buckets ({rows} rows: {wanted} buckets want "
               f"{ROWS_PER_BUCKET * wanted})")


def regularization(rows: int) -> dict[str, float]:
    """The network's hyperparameters a dataset this small needs: a stronger L2 penalty (none
    declared from 20,000 rows, where the model's default holds)."""
    l2 = L2_ROWS / rows
    return {"l2": float(f"{l2:.2g}")} if l2 > DEFAULT_L2 else {}


def name_words(name: str) -> list[str]:
    """A column name's words, lower case: snake_case, camelCase and CAPS runs split."""
    return [w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", name)]


def _code_evidence(column: Column) -> str | None:
    """Why an integer column holds codes rather than quantities (its name, or values spread thin
    over a wide range), or None: counts and other ordered integers are numbers."""
    words = name_words(column.name)
    if words and words[-1] in CODE_WORDS:
        return f"name ends in '{words[-1]}'"
    low, top = column.minimum or 0, column.maximum or 0
    density = column.distinct / (top - low + 1)
    if column.distinct <= MAX_CATEGORICAL_INT and low >= SPARSE_CODE_MIN and density < SPARSE_CODE_DENSITY:
        return (f"{column.distinct} values spread over {low:g}..{top:g} "
                f"({density:.1%} of the range)")
    return None


def _code_decision(column: Column, evidence: str) -> Decision:
    """Integer codes: ids when few and small, a vocabulary otherwise, hashed when too many."""
    name, n = column.name, column.distinct
    low, top = int(column.minimum or 0), int(column.maximum or 0)
    if n <= MAX_CATEGORICAL_INT and low >= 0 and top < MAX_CATEGORICAL_ID:
        return Decision(name, "feature", f"code ({evidence}), {n} values in {low}..{top}: ids 0..{top}",
                        Feature(name, Treatment.CATEGORICAL, max_value=top + 1))
    if n <= MAX_VOCABULARY:
        return Decision(name, "feature", f"code ({evidence}), {n} distinct values: vocabulary",
                        Feature(name, Treatment.VOCABULARY))
    buckets = min(2 * n, MAX_HASH_BUCKETS)
    return Decision(name, "feature", f"code ({evidence}), {n} distinct values: hashed into "
                    f"{buckets} buckets", Feature(name, Treatment.HASHED, buckets=buckets))


def without_duplicates(table: Table, decisions: Sequence[Decision],
                       columns: dict[str, Column]) -> list[Decision]:
    """Each feature that repeats an earlier kept one excluded, with the statistic: a numeric
    column with |correlation| >= DUPLICATE_CORRELATION, or any column whose values map one to
    one onto the other's (the same information under other names)."""
    kept: list[str] = []
    result = []
    for decision in decisions:
        if decision.feature is None:
            result.append(decision)
            continue
        twin = next(((other, why) for other in kept
                     if (why := _duplicate(table, columns[decision.column], columns[other]))), None)
        if twin is None:
            kept.append(decision.column)
            result.append(decision)
        else:
            result.append(Decision(decision.column, "excluded",
                                   f"near-duplicate of '{twin[0]}' ({twin[1]})"))
    return result


def _duplicate(table: Table, column: Column, other: Column) -> str | None:
    """Why `column` repeats `other`, or None."""
    if column.numeric and other.numeric:
        r = _correlation(table.cells[column.name],
                         [None if v is None else float(v) for v in table.cells[other.name]])
        if r is not None and abs(r) >= DUPLICATE_CORRELATION:
            return f"correlation {r:+.4f}"
    if column.distinct != other.distinct or column.distinct > MAX_VOCABULARY:
        return None
    pairs = {(v, w) for v, w in zip(table.cells[column.name], table.cells[other.name], strict=True)}
    if len(pairs) == column.distinct and all(v is not None and w is not None for v, w in pairs):
        return f"a one-to-one mapping of its {column.distinct} values"
    return None


def _leak(table: Table, column: Column, label: Column, task: Task,
          label_codes: list[float | None]) -> str | None:
    """Why the column may carry the label itself, or None."""
    pairs = [(canonical(column.kind, v), canonical(label.kind, y))
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


def id_column(decisions: Sequence[Decision], columns: dict[str, Column], rows: int) -> str | None:
    """The first column excluded as unique per row that has a value in every row: scoring names
    each scored row by it (None when no column qualifies)."""
    return next((d.column for d in decisions
                 if d.role == "excluded" and d.reason.startswith(UNIQUE_PER_ROW)
                 and columns[d.column].present == rows), None)


# --- thresholds and slices -----------------------------------------------------------------------

def baseline_margin(task: Task) -> float:
    """How far a new project's model may fall behind the linear baseline on the same split:
    absolute AUC (binary) or accuracy (multiclass), a share of the baseline's RMSE (regression)."""
    return BASELINE_MARGINS[task]


def live_bounds(task: Task, label: Column) -> tuple[Threshold, ...]:
    """Live bounds `feedback` holds a served model to: AUC a margin above chance, accuracy the
    majority class's share (the base rate), RMSE the label's spread (the mean predictor's error)."""
    primary = TASK_METRICS[task][0].name  # auc, accuracy, rmse
    if task is Task.REGRESSION:
        return (Threshold(primary, upper=float(f"{label.std or 0.0:.6g}")),)
    accuracy = Threshold("accuracy", lower=round(max(label.counts.values()) / label.present, 3))
    if task is Task.BINARY:
        return (Threshold(primary, lower=LIVE_MIN_AUC), accuracy)
    return (accuracy,)


def slices(decisions: Sequence[Decision], columns: dict[str, Column]) -> tuple[str, ...]:
    """Up to two low-cardinality categorical or vocabulary features, in column order."""
    kinds = (Treatment.CATEGORICAL, Treatment.VOCABULARY)
    return tuple(d.column for d in decisions
                 if d.feature and d.feature.treatment in kinds
                 and columns[d.column].distinct <= MAX_SLICE_VALUES)[:MAX_SLICES]
