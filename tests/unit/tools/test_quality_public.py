"""benchmarks/public_data.py's CSVs and the quality table's runner on one public dataset."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from benchmarks import public_data, quality
from pipeline.config.project import Task


@pytest.mark.parametrize("name", sorted(public_data.DATASETS))
def test_each_builder_writes_one_readable_csv_with_its_label(tmp_path: Path, name: str) -> None:
    dataset = public_data.DATASETS[name]
    path = dataset.write_csv(tmp_path / "data")
    assert [p.name for p in (tmp_path / "data").iterdir()] == [f"{name}.csv"]
    frame = pd.read_csv(path)
    assert dataset.label in frame.columns and frame[dataset.label].notna().all()
    assert len(frame) >= 150 and frame.shape[1] >= 5
    assert all(c == c.strip() and " " not in c for c in frame.columns)


def test_the_derived_tasks_cover_what_the_table_claims(tmp_path: Path) -> None:
    zero = public_data.digits_zero()
    assert 0.08 < zero["is_zero"].mean() < 0.12  # a rare positive class
    pixels = zero.drop(columns="is_zero")
    assert pixels.dtypes.map(pd.api.types.is_integer_dtype).all() and pixels.min().min() == 0
    assert pixels.max().max() == 16  # counts of pixels on in a 4x4 block
    assert public_data.digits()["digit"].nunique() == 10
    cancer = public_data.breast_cancer()
    assert cancer["mean_diameter"].corr(cancer["mean_radius"]) == pytest.approx(1.0)
    assert abs(cancer["mean_area_mm2"].corr(cancer["mean_area"])) >= 0.999
    assert set(cancer["diagnosis"]) == {"benign", "malignant"}
    assert public_data.diabetes()["progression"].nunique() > 100


def test_the_target_needs_a_push_only_where_the_linear_model_beats_the_majority() -> None:
    def result(ours: float, linear: float, hgb: float, majority: float, pushed: bool) -> dict:
        return {"ours": ours, "majority": majority, "pushed": pushed,
                "baselines": {"logistic_regression": {"value": linear},
                              "hist_gradient_boosting": {"value": hgb}}}

    met = quality.target_verdict(Task.BINARY, result(0.95, 0.96, 0.94, 0.5, pushed=True))
    assert met == {"linear_beats_majority": True, "best_sklearn": "logistic_regression",
                   "within_tolerance": True, "target_met": True}
    assert not quality.target_verdict(Task.BINARY, result(0.95, 0.96, 0.94, 0.5, False))["target_met"]
    assert not quality.target_verdict(Task.BINARY, result(0.94, 0.90, 0.96, 0.5, True))["target_met"]
    # Nothing beats chance: not pushing is right.
    assert quality.target_verdict(Task.BINARY, result(0.5, 0.49, 0.5, 0.5, False))["target_met"]
    rmse = quality.target_verdict(Task.REGRESSION, result(54.0, 50.0, 60.0, 70.0, True))
    assert rmse["best_sklearn"] == "logistic_regression" and rmse["target_met"]
    assert not quality.target_verdict(Task.REGRESSION, result(56.0, 50.0, 60.0, 70.0, True))["target_met"]


@pytest.mark.slow
def test_the_runner_inits_runs_and_measures_one_public_dataset(tmp_path: Path) -> None:
    wine = public_data.DATASETS["wine"]
    result = quality.benchmark_dataset(wine, tmp_path, timeout=1800, reuse=False)
    assert result["exit_code"] in (0, quality.EXIT_NOT_BLESSED)
    assert result["pushed"] == (result["exit_code"] == 0)
    assert result["metric"] == "accuracy" and 0 < result["ours"] <= 1
    assert set(result["baselines"]) == {"logistic_regression", "hist_gradient_boosting"}
    assert all(math.isfinite(c["value"]) for c in result["baselines"].values())
    # The majority baseline on wine's three cultivars is about 0.4, every real model far above.
    assert 0.2 < result["majority"] < 0.6 and result["linear_beats_majority"]
    assert result["rows"]["train"] + result["rows"]["eval"] == 178
    assert isinstance(result["target_met"], bool)
    table = quality.public_markdown([result])
    assert "| wine |" in table and ("MET" in table or "MISSED" in table)
    again = quality.benchmark_dataset(wine, tmp_path, timeout=1800, reuse=True)
    assert again["exit_code"] == result["exit_code"] and again["ours"] == result["ours"]
