"""Reference models on the pipeline's split: majority and linear, scored with the task's metrics,
and the bound the declared margin sets from the linear model's metric."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from pipeline.config.project import Feature, Project, Task, Treatment
from pipeline.data import baseline
from pipeline.vocabulary import WEIGHT_KEY, label_key, transformed_name


def project(task: Task, margin: float | None = 0.01) -> Project:
    classes = {Task.BINARY: ("no", "yes"), Task.MULTICLASS: ("a", "b", "c"), Task.REGRESSION: ()}[task]
    return Project(name="p", data="d", label="y", task=task, classes=classes,
                   positive_class="yes" if task is Task.BINARY else None,
                   features=(Feature("x", Treatment.NUMERIC), Feature("code", Treatment.CATEGORICAL,
                                                                     max_value=4)),
                   baseline_margin=margin)


def split(task: Task, rows: int, seed: int) -> baseline.Split:
    """x carries the signal; code is one-hot information the linear model needs too."""
    rng = np.random.default_rng(seed)
    x, code = rng.normal(size=rows), rng.integers(0, 4, size=rows)
    signal = 2 * x + (code == 3) * 2.0 + rng.normal(scale=0.5, size=rows)
    if task is Task.BINARY:
        label = (signal > 1.0).astype(np.int64)
    elif task is Task.MULTICLASS:
        label = np.digitize(signal, [-1.0, 1.0])
    else:
        label = signal
    columns = {transformed_name("x"): x, transformed_name("code"): code,
               label_key("y"): label, WEIGHT_KEY: np.ones(rows)}
    return baseline.split_from_columns(project(task), columns)


@pytest.mark.parametrize("task", list(Task))
def test_the_linear_model_beats_the_majority_on_a_learnable_label(task: Task) -> None:
    declared = project(task)
    found = baseline.fit(split(task, 400, 1), split(task, 200, 2), declared)
    assert set(found) == {baseline.LINEAR, baseline.MAJORITY}
    assert set(found[baseline.LINEAR]) == {m.name for m in declared.metrics}
    primary = declared.primary_metric
    linear, majority = found[baseline.LINEAR][primary.name], found[baseline.MAJORITY][primary.name]
    assert (linear > majority + 0.1) if primary.higher_is_better else (linear < 0.7 * majority)
    if task is Task.BINARY:
        assert found[baseline.MAJORITY]["auc"] == pytest.approx(0.5)
        assert linear > 0.9


def test_rows_of_weight_zero_count_for_nothing() -> None:
    declared = project(Task.REGRESSION)
    train, evaluation = split(Task.REGRESSION, 300, 1), split(Task.REGRESSION, 100, 2)
    spoiled_label = evaluation.label.copy()
    spoiled_label[:50] = 1e6
    weight = evaluation.weight.copy()
    weight[:50] = 0
    spoiled = dataclasses.replace(evaluation, label=spoiled_label, weight=weight)
    kept = dataclasses.replace(evaluation, inputs={k: v[50:] for k, v in evaluation.inputs.items()},
                               label=evaluation.label[50:], weight=evaluation.weight[50:])
    found, expected = baseline.fit(train, spoiled, declared), baseline.fit(train, kept, declared)
    for model, metrics in expected.items():
        assert found[model] == pytest.approx(metrics)


def test_undefined_metrics_are_nan_not_an_error() -> None:
    declared = project(Task.BINARY)
    evaluation = split(Task.BINARY, 100, 2)
    one_class = dataclasses.replace(evaluation, label=np.zeros_like(evaluation.label))
    found = baseline.fit(split(Task.BINARY, 300, 1), one_class, declared)
    assert math.isnan(found[baseline.LINEAR]["auc"])
    assert baseline.gate(declared, found[baseline.LINEAR]) is None


def test_ids_unseen_in_train_do_not_break_the_encoding() -> None:
    declared = project(Task.BINARY)
    evaluation = split(Task.BINARY, 100, 2)
    evaluation.inputs[transformed_name("code")][:10] = 99
    found = baseline.fit(split(Task.BINARY, 300, 1), evaluation, declared)
    assert found[baseline.LINEAR]["auc"] > 0.8


def test_the_gate_is_the_margin_below_a_score_and_a_share_above_an_error() -> None:
    assert baseline.gate(project(Task.BINARY, 0.01), {"auc": 0.8}).lower == pytest.approx(0.79)
    bound = baseline.gate(project(Task.REGRESSION, 0.05), {"rmse": 2.0})
    assert bound.upper == pytest.approx(2.1) and bound.lower is None
    assert baseline.gate(project(Task.BINARY, None), {"auc": 0.8}) is None
