"""Labels that cannot train a model, found in each split's statistics before Transform runs.

TF-free (TFDV's statistics protos only), so the DataGate component calls it on the statistics
StatisticsGen wrote for each split, on any runner. The label and its task come from the
project's declaration. A label the project derives in its own preprocessing_fn (`label_columns`
other than the label) is not a CSV column: then its source columns are checked for being
missing or constant, the class checks need the label itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

from tensorflow_metadata.proto.v0 import statistics_pb2

from pipeline.config.project import Project, Task
from pipeline.vocabulary import TRAIN_SPLIT

# A label (or label source) empty in more than this share of a split's rows trains on noise.
MAX_MISSING_FRACTION = 0.5

# How a single-valued column's problem ends; a classification label names its absent classes instead.
NOTHING_TO_LEARN = ": nothing to learn"

# statistics_pb2.DatasetFeatureStatistics: the protobuf module carries no type stubs.
Stats: TypeAlias = Any


def _feature(stats: Stats, name: str) -> statistics_pb2.FeatureNameStatistics | None:
    """The statistics of one column, by name or by path."""
    for feature in stats.features:
        if feature.name == name or list(feature.path.step) == [name]:
            return feature
    return None


def _common(feature: statistics_pb2.FeatureNameStatistics) -> statistics_pb2.CommonStatistics:
    """The present/missing counts, whatever the column's type."""
    kind = feature.WhichOneof("stats")
    return getattr(feature, kind).common_stats if kind in ("num_stats", "string_stats") else \
        statistics_pb2.CommonStatistics()


def _values(feature: statistics_pb2.FeatureNameStatistics) -> set[str] | None:
    """The distinct values of a string column (all of them when TFDV's histogram holds all)."""
    strings = feature.string_stats
    if feature.WhichOneof("stats") != "string_stats":
        return None
    seen = {b.label for b in strings.rank_histogram.buckets} | {v.value for v in strings.top_values}
    return seen if len(seen) >= strings.unique else None


def _column_problems(stats: Stats, name: str, what: str) -> list[str]:
    """Missing, almost all missing, or a single value: no signal to learn from."""
    feature = _feature(stats, name)
    rows = stats.num_examples
    if feature is None:
        return [f"{what} '{name}' is absent"]
    common = _common(feature)
    missing = rows - common.num_non_missing
    if rows and missing / rows > MAX_MISSING_FRACTION:
        return [f"{what} '{name}' is empty in {missing} of {rows} rows ({missing / rows:.0%}; at "
                f"most {MAX_MISSING_FRACTION:.0%} allowed)"]
    values = _values(feature)
    numbers = feature.num_stats
    if (values is not None and len(values) == 1) or \
            (values is None and numbers.min == numbers.max and common.num_non_missing):
        only = next(iter(values)) if values else f"{numbers.min:g}"
        return [f"{what} '{name}' has one value only ({only}){NOTHING_TO_LEARN}"]
    return []


def _absent_classes(stats: Stats, project: Project) -> list[str]:
    """The declared classes with no row in the split (exactly for text labels, by range for
    numbers); none when the statistics do not list the values."""
    feature = _feature(stats, project.label)
    if feature is None or not project.classes:
        return []
    values = _values(feature)
    if values is None and feature.WhichOneof("stats") == "num_stats":
        # Integer classes: TFDV keeps only the range; a class outside it has no row.
        low, high = feature.num_stats.min, feature.num_stats.max
        values = {c for c in project.classes if _is_number(c) and low <= float(c) <= high}
    if values is None:
        return []
    return [c for c in project.classes if c not in values]


def _class_problems(found: list[str], stats: Stats, project: Project) -> list[str]:
    """A classification label's problems: a class with no row named, also where the label has
    one value only (a binary label missing its positive class says which class is absent)."""
    absent = _absent_classes(stats, project)
    if not absent:
        return found
    listed = f"no row of class {', '.join(map(repr, absent))}"
    if not found:
        return [f"label '{project.label}' has {listed}"]
    return [f"{found[0].removesuffix(NOTHING_TO_LEARN)}: {listed}"] if \
        found[0].endswith(NOTHING_TO_LEARN) else found


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _range_problems(splits: Mapping[str, Stats], label: str) -> list[str]:
    """Regression: the eval split's labels inside the range the train split learns from."""
    if TRAIN_SPLIT not in splits:
        return []
    train = _feature(splits[TRAIN_SPLIT], label)
    if train is None or train.WhichOneof("stats") != "num_stats":
        return []
    problems = []
    for split, stats in splits.items():
        other = _feature(stats, label)
        if split == TRAIN_SPLIT or other is None or other.WhichOneof("stats") != "num_stats":
            continue
        low, high = train.num_stats.min, train.num_stats.max
        span = high - low
        if other.num_stats.max < low or other.num_stats.min > high or (
                span > 0 and (other.num_stats.max - other.num_stats.min) < span * 0.01):
            problems.append(
                f"{split}: label '{label}' ranges over [{other.num_stats.min:g}, "
                f"{other.num_stats.max:g}], which does not cover the train split's "
                f"[{low:g}, {high:g}]")
    return problems


def label_problems(splits: Mapping[str, Stats], project: Project) -> list[str]:
    """One line per split and problem: '<split>: label '<name>' ...'; empty when trainable."""
    derived = project.label_columns and project.label_columns != (project.label,)
    problems = []
    for split, stats in splits.items():
        if derived:
            found = [p for column in project.label_columns
                     for p in _column_problems(stats, column, "label source column")]
        else:
            found = _column_problems(stats, project.label, "label")
            if project.task is not Task.REGRESSION:
                found = _class_problems(found, stats, project)
        problems += [f"{split}: {problem}" for problem in found]
    if not problems and not derived and project.task is Task.REGRESSION:
        problems += _range_problems(splits, project.label)
    return problems
