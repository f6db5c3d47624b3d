"""benchmarks/quality.py's pure parts: label, encoding, scoring and the verdict (no pipeline run)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks import quality
from pipeline.config.project import Feature, Project, Task, Treatment


def penguin_project() -> Project:
    return Project(
        name="tiny", data="data/tiny", label="species", task=Task.MULTICLASS,
        classes=("a", "b", "c"),
        features=(Feature("length", Treatment.NUMERIC), Feature("island", Treatment.VOCABULARY),
                  Feature("hour", Treatment.CATEGORICAL, max_value=24)))


def test_encoder_one_hots_categoricals_and_standardizes_numerics_with_train_mean() -> None:
    project = penguin_project()
    train = pd.DataFrame({"length": [1.0, 3.0, None], "island": ["x", "y", None], "hour": [1, 2, 2],
                          "species": ["a", "b", "c"]})
    evaluation = pd.DataFrame({"length": [None, 2.0], "island": ["z", "y"], "hour": [2, 5],
                               "species": ["a", "b"]})
    encoder = quality.Encoder.for_project(project).fit(train)
    assert encoder.feature_names() == ["length", "island=__missing__", "island=x", "island=y",
                                       "hour=1", "hour=2"]
    encoded = encoder.transform(evaluation)
    # Missing length is the train mean (2.0), so 0 after z-scoring; unseen island/hour are all-zero.
    np.testing.assert_allclose(encoded, [[0, 0, 0, 0, 0, 1], [0, 0, 0, 1, 0, 0]])
    # The std is of the imputed column [1, 3, 2].
    np.testing.assert_allclose(encoder.transform(train)[:, 0], [-1.5 ** 0.5, 1.5 ** 0.5, 0.0])


def test_labels_generic_and_derived_by_the_runs_transform_graph() -> None:
    label, weight = quality.label_and_weight(
        penguin_project(), pd.DataFrame({"species": ["c", "a", None, "b"]}))
    assert label.tolist() == [2, 0, 0, 1] and weight.tolist() == [1, 1, 0, 1]
    assert not quality.derived_label(penguin_project())
    derived = Project(name="tips", data="d", label="big_tip", task=Task.BINARY, classes=("0", "1"),
                      positive_class="1", label_columns=("tip", "fare"), weight="w",
                      features=(Feature("fare", Treatment.NUMERIC),),
                      preprocessing_fn="models.tips.preprocessing.preprocessing_fn")
    assert quality.derived_label(derived)
    assert quality.label_columns(derived) == ("tip", "fare", "w")
    # The Transform graph's columns as they are: its weight already includes the declared `w`.
    frame = pd.DataFrame({"fare": [10.0, 0.0], "w": [2.0, 2.0], "big_tip_xf": [1, 0],
                          "example_weight_xf": [2.0, 0.0]})
    label, weight = quality.label_and_weight(derived, frame)
    assert label.tolist() == [1, 0] and weight.tolist() == [2.0, 0.0]


def test_scores_ignore_zero_weight_rows() -> None:
    weight = np.array([1.0, 1.0, 1.0, 0.0])
    auc = quality.score(Task.BINARY, np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.8, 0.95]), weight)
    assert auc == pytest.approx(1.0)
    accuracy = quality.score(Task.MULTICLASS, np.array([0, 2, 1, 1]), np.array([0, 2, 0, 0]), weight)
    assert accuracy == pytest.approx(2 / 3)
    rmse = quality.score(Task.REGRESSION, np.array([1.0, 2.0, 3.0, 9.0]),
                         np.array([1.0, 2.0, 5.0, 0.0]), weight)
    assert rmse == pytest.approx(np.sqrt(4 / 3))


def test_baselines_fit_a_tiny_frame_and_the_verdict_uses_the_task_tolerance() -> None:
    rng = np.random.default_rng(0)
    n = 120
    species = rng.integers(0, 3, n)
    frame = pd.DataFrame({"length": species * 2.0 + rng.normal(0, 0.1, n),
                          "island": np.where(species == 2, "x", "y"), "hour": rng.integers(0, 3, n),
                          "species": np.array(["a", "b", "c"])[species]})
    fitted = quality.fit_baselines(penguin_project(), frame[:80], frame[80:])
    assert set(fitted["metrics"]) == {"majority", "logistic_regression", "hist_gradient_boosting"}
    majority = fitted["metrics"].pop("majority")
    assert min(fitted["metrics"].values()) > 0.9 and majority < 0.5  # three classes, about a third each
    assert quality.passes(Task.MULTICLASS, 0.94, 0.97)
    assert not quality.passes(Task.MULTICLASS, 0.93, 0.97)
    assert quality.passes(Task.BINARY, 0.90, 0.914) and not quality.passes(Task.BINARY, 0.90, 0.916)
    assert quality.passes(Task.REGRESSION, 1.09, 1.0) and not quality.passes(Task.REGRESSION, 1.11, 1.0)
    verdict = quality.compare(penguin_project(), 0.95, {"majority": 0.99, "logistic_regression": 0.97,
                                                        "hist_gradient_boosting": 1.0})
    assert set(verdict["baselines"]) == {"logistic_regression", "hist_gradient_boosting"}
    assert not verdict["pass"] and verdict["baselines"]["logistic_regression"]["pass"]
    assert "FAIL" in quality.markdown([verdict]) and "0.9500" in quality.markdown([verdict])
