"""Profile a CSV file (or a folder of them) into a project: the task, one decision per column, the
thresholds, the slices and a curated schema, each with the reason a reviewer needs.

The data is read as a run reads it (csv_table), decided on (decisions) and proposed as a curated
schema (profile_schema). TF-free at import: TFDV is imported inside the functions that need it.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config.project import (
    TASK_METRICS,
    Feature,
    Project,
    Task,
    Threshold,
    ThresholdDeclaration,
    ThresholdRule,
)
from pipeline.data.csv_table import (
    Column,
    ProfileError,
    column_summaries,
    inferred_kind,
    read_table,
    statistics,
)
from pipeline.data.decisions import (
    Decision,
    baseline_margin,
    choose_label,
    decide,
    id_column,
    label_as_numbers,
    live_bounds,
    regularization,
    slices,
    without_duplicates,
)
from pipeline.data.preflight import size_problems

# The class cut `init` declares for a binary label: the best F1 on the training split, which a rare
# positive class needs (a 0.5 cut can call no row positive at all).
INIT_DECISION_THRESHOLD = ThresholdDeclaration(ThresholdRule.MAX_F1, None)


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
    baseline_margin: float
    live_bounds: tuple[Threshold, ...]
    slices: tuple[str, ...]
    id_column: str | None
    hyperparameters: dict[str, float]
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
            label_columns=(self.label,), excluded=self.excluded, id_column=self.id_column,
            slices=self.slices,
            baseline_margin=self.baseline_margin, live_bounds=self.live_bounds,
            no_worse_than_serving=TASK_METRICS[self.task][0].name,
            decision_threshold=(INIT_DECISION_THRESHOLD if self.task is Task.BINARY
                                else ThresholdDeclaration()),
            hyperparameters=dict(self.hyperparameters),
        )


def profile(path: Path, label: str, task: Task | None = None, positive: str | None = None,
            max_row_bytes: int = 1 << 20) -> Profile:
    """Read the CSV file(s) at `path` and decide the project; ProfileError says why not."""
    table = read_table(path, max_row_bytes)
    if label not in table.header:
        raise ProfileError(f"no label column '{label}' in {table.files[0]} (columns: "
                           f"{', '.join(table.header)})")
    kinds = {name: inferred_kind(table.cells[name]) for name in table.header}
    label_only = column_summaries(table, kinds)[label]
    chosen = choose_label(label_only, task, positive)     # refusals before TFDV is imported
    enough_rows(table.rows, label_only, chosen.classes, table.files[0])
    stats = statistics(table, kinds)
    columns = column_summaries(table, kinds, stats)
    label_column = columns[label]
    codes = label_as_numbers(table, label_column, chosen)
    decisions = [Decision(label, "label", f"{chosen.task.value}: {chosen.reason}")]
    for name in table.header:
        if name != label:
            decisions.append(decide(table, columns[name], label_column, chosen.task, codes))
    decisions = without_duplicates(table, decisions, columns)
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
        baseline_margin=baseline_margin(chosen.task), live_bounds=live_bounds(chosen.task, label_column),
        slices=slices(decisions, columns),
        id_column=id_column(decisions, columns, table.rows),
        hyperparameters=regularization(table.rows), columns=columns, warnings=tuple(warnings),
        statistics=stats,
    )


def enough_rows(rows: int, label: Column, classes: tuple[str, ...], path: Path) -> None:
    """Refuse data too small for the train/eval split, or a class too rare to learn (the limits
    a run's pre-flight applies too)."""
    problems = size_problems(path, rows, label.name, label.counts, classes)
    if problems:
        raise ProfileError(problems[0])


def check_name(name: str) -> None:
    """A project name is a Python identifier: it names models/<name>/ and its Python package."""
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        raise ProfileError(f"invalid project name {name!r}: use letters, digits and underscores, "
                           "starting with a letter (a Python identifier)")
