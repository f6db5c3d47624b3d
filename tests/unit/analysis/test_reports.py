"""The notebooks' plots show the project's metrics, not a fixed list."""

from __future__ import annotations

import dataclasses

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402

from pipeline.analysis import reports  # noqa: E402
from pipeline.config import store_config  # noqa: E402
from pipeline.config.project import Task  # noqa: E402


def test_metric_keys_are_the_tasks_tfma_keys_primary_first() -> None:
    taxi = store_config({}).declaration
    assert reports.metric_keys(taxi)[:3] == ("auc", "auc_precision_recall", "binary_accuracy")
    regression = dataclasses.replace(taxi, task=Task.REGRESSION, classes=(), positive_class=None,
                                     thresholds=(), no_worse_than_serving="mae")
    assert reports.metric_keys(regression) == ("mean_absolute_error", "root_mean_squared_error")


def test_plots_take_the_metric_they_show() -> None:
    slices = pd.DataFrame(
        {"feature": ["", "hour", "hour"], "value": ["", "1", "2"], "example_count": [4, 2, 2],
         "root_mean_squared_error": [1.5, 1.0, 2.0]}, index=["Overall", "hour:1", "hour:2"])
    figure = reports.plot_slice_metric(slices, "hour", "root_mean_squared_error")
    assert figure.axes[0].get_ylabel() == "root_mean_squared_error"
    history = pd.DataFrame({"started": pd.to_datetime(["2024-01-01", "2024-01-02"]),
                            "pushed_version": ["1", "-"], "mean_absolute_error": [0.5, 0.4]})
    figure = reports.plot_metrics_over_runs(history, ("root_mean_squared_error", "mean_absolute_error"))
    assert [line.get_label() for line in figure.axes[0].get_lines()] == ["mean_absolute_error"]
