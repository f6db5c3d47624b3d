"""Labels that cannot train a model are named per split from StatisticsGen's statistics:
binary, multiclass and regression projects, and a label derived from source columns."""

from __future__ import annotations

import dataclasses

import pytest
from tensorflow_metadata.proto.v0 import statistics_pb2

from pipeline.config import PipelineConfig
from pipeline.config.project import Project, Task
from pipeline.data.label_checks import label_problems

TAXI = PipelineConfig().declaration  # binary, label derived from tips and fare
Stats = statistics_pb2.DatasetFeatureStatistics


def direct(task: Task, classes: tuple[str, ...] = ()) -> Project:
    """The taxi declaration with a label read as it is from a CSV column 'y'."""
    return dataclasses.replace(TAXI, label="y", label_columns=("y",), task=task, classes=classes,
                               positive_class=classes[1] if task is Task.BINARY else None)


def text_label(rows: int, counts: dict[str, int], name: str = "y") -> Stats:
    """A split of `rows` rows whose string label has these value counts (the rest missing)."""
    stats = Stats(num_examples=rows)
    feature = stats.features.add(name=name, type=statistics_pb2.FeatureNameStatistics.STRING)
    feature.string_stats.common_stats.num_non_missing = sum(counts.values())
    feature.string_stats.unique = len(counts)
    for value, count in counts.items():
        feature.string_stats.rank_histogram.buckets.add(label=value, sample_count=count)
    return stats


def number_label(rows: int, low: float, high: float, present: int | None = None,
                 name: str = "y") -> Stats:
    """A split whose numeric label ranges over [low, high]."""
    stats = Stats(num_examples=rows)
    feature = stats.features.add(name=name, type=statistics_pb2.FeatureNameStatistics.FLOAT)
    feature.num_stats.common_stats.num_non_missing = rows if present is None else present
    feature.num_stats.min, feature.num_stats.max = low, high
    return stats


BINARY = direct(Task.BINARY, ("no", "yes"))
MULTI = direct(Task.MULTICLASS, ("a", "b", "c"))
INT_BINARY = direct(Task.BINARY, ("0", "1"))
REGRESSION = direct(Task.REGRESSION)

# (case, project, splits, expected problem lines; [] = trainable)
CASES = [
    ("binary ok", BINARY, {"train": text_label(90, {"no": 60, "yes": 30}),
                           "eval": text_label(30, {"no": 20, "yes": 10})}, []),
    ("binary one value", BINARY, {"train": text_label(90, {"no": 90}),
                                  "eval": text_label(30, {"no": 30})},
     ["train: label 'y' has one value only (no): no row of class 'yes'",
      "eval: label 'y' has one value only (no): no row of class 'yes'"]),
    ("binary almost all missing", BINARY, {"train": text_label(90, {"no": 3, "yes": 2}),
                                           "eval": text_label(30, {"no": 20, "yes": 10})},
     ["train: label 'y' is empty in 85 of 90 rows (94%; at most 50% allowed)"]),
    ("binary class absent from eval", BINARY, {
        "train": text_label(90, {"no": 88, "yes": 2}),
        "eval": text_label(30, {"no": 29, "maybe": 1})},
     ["eval: label 'y' has no row of class 'yes'"]),
    ("int binary ok", INT_BINARY, {"train": number_label(90, 0, 1),
                                   "eval": number_label(30, 0, 1)}, []),
    ("int binary one value", INT_BINARY, {"train": number_label(90, 0, 1),
                                          "eval": number_label(30, 0, 0)},
     ["eval: label 'y' has one value only (0): no row of class '1'"]),
    ("multiclass ok", MULTI, {"train": text_label(90, {"a": 30, "b": 30, "c": 30}),
                              "eval": text_label(30, {"a": 10, "b": 10, "c": 10})}, []),
    ("multiclass class absent from train", MULTI, {
        "train": text_label(90, {"a": 45, "b": 45}),
        "eval": text_label(30, {"a": 10, "b": 10, "c": 10})},
     ["train: label 'y' has no row of class 'c'"]),
    ("multiclass label column absent", MULTI, {"train": text_label(90, {"a": 90}, name="z")},
     ["train: label 'y' is absent"]),
    ("regression ok", REGRESSION, {"train": number_label(90, 0, 50),
                                   "eval": number_label(30, 1, 40)}, []),
    ("regression constant", REGRESSION, {"train": number_label(90, 7, 7),
                                         "eval": number_label(30, 7, 7)},
     ["train: label 'y' has one value only (7): nothing to learn",
      "eval: label 'y' has one value only (7): nothing to learn"]),
    ("regression almost all missing", REGRESSION, {"train": number_label(90, 0, 50, present=9),
                                                   "eval": number_label(30, 0, 50)},
     ["train: label 'y' is empty in 81 of 90 rows (90%; at most 50% allowed)"]),
    ("regression range absent from eval", REGRESSION, {"train": number_label(90, 0, 10),
                                                       "eval": number_label(30, 20, 40)},
     ["eval: label 'y' ranges over [20, 40], which does not cover the train split's [0, 10]"]),
]


def _with(stats: Stats, other: Stats) -> Stats:
    """Both splits' features in one split's statistics."""
    merged = Stats()
    merged.CopyFrom(stats)
    merged.features.extend(other.features)
    return merged


CASES.append(("derived label ok", TAXI, {"train": _with(number_label(90, 0, 9, name="tips"),
                                                        number_label(90, 1, 30, name="fare"))}, []))
CASES.append(("derived label source constant", TAXI, {
    "train": _with(number_label(90, 0, 0, name="tips"), number_label(90, 1, 30, name="fare"))},
    ["train: label source column 'tips' has one value only (0): nothing to learn"]))
CASES.append(("derived label source missing", TAXI, {
    "train": _with(number_label(90, 0, 9, name="tips"),
                   number_label(90, 1, 30, present=10, name="fare"))},
    ["train: label source column 'fare' is empty in 80 of 90 rows (89%; at most 50% allowed)"]))


@pytest.mark.parametrize(("project", "splits", "expected"),
                         [pytest.param(p, s, e, id=c) for c, p, s, e in CASES])
def test_labels_that_cannot_train_are_named_per_split(
    project: Project, splits: dict[str, Stats], expected: list[str]
) -> None:
    assert label_problems(splits, project) == expected
