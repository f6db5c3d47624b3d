"""What `init` decides from the data: the label's task and classes, one treatment per column (or
why it is left out), the blessing thresholds and the slices. Decisions come from the statistics
plus a few row-level checks the statistics cannot answer (distinct numbers, a column that maps 1-1
onto the label, correlation with the label).
"""

from __future__ import annotations

import math
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


def live_bounds(task: Task, label: Column) -> tuple[Threshold, ...]:
    """Live bounds `feedback` holds a served model to: halfway between chance and the blessing bound
    for AUC, the majority class's share (the base rate) for accuracy, the label's spread for RMSE."""
    blessing = thresholds(task, label)[0]
    if task is Task.REGRESSION:
        return (blessing,)
    majority = round(max(label.counts.values()) / label.present, 3)
    accuracy = Threshold("accuracy", lower=majority)
    if task is Task.BINARY:
        auc = round(0.5 + ((blessing.lower or 0.5) - 0.5) / 2, 3)
        return (Threshold(blessing.metric, lower=auc), accuracy)
    return (accuracy,)


def slices(decisions: Sequence[Decision], columns: dict[str, Column]) -> tuple[str, ...]:
    """Up to two low-cardinality categorical or vocabulary features, in column order."""
    kinds = (Treatment.CATEGORICAL, Treatment.VOCABULARY)
    return tuple(d.column for d in decisions
                 if d.feature and d.feature.treatment in kinds
                 and columns[d.column].distinct <= MAX_SLICE_VALUES)[:MAX_SLICES]
