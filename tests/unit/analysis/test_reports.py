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
         "root_mean_squared_error": [1.5, 1.0, 2.0], "note": ["", "n < 30", ""]},
        index=["Overall", "hour:1", "hour:2"])
    figure = reports.plot_slice_metric(slices, "hour", "root_mean_squared_error")
    assert figure.axes[0].get_ylabel() == "root_mean_squared_error"
    history = pd.DataFrame({"started": pd.to_datetime(["2024-01-01", "2024-01-02"]),
                            "pushed_version": ["1", "-"], "mean_absolute_error": [0.5, 0.4]})
    figure = reports.plot_metrics_over_runs(history, ("root_mean_squared_error", "mean_absolute_error"))
    assert [line.get_label() for line in figure.axes[0].get_lines()] == ["mean_absolute_error"]


def test_a_slice_plot_draws_no_bar_for_an_undefined_metric_and_says_why() -> None:
    slices = pd.DataFrame(
        {"feature": ["", "pay", "pay"], "value": ["", "Cash", "Card"], "example_count": [90, 50, 40],
         "auc": [0.9, float("nan"), 0.7], "note": ["", "auc: one class", ""]},
        index=["Overall", "pay=Cash", "pay=Card"])
    axis = reports.plot_slice_metric(slices, "pay", "auc").axes[0]
    heights = [bar.get_height() for bar in axis.patches]
    assert heights == [0.0, 0.7]
    assert [t.get_text() for t in axis.texts] == ["n=50\none class", "n=40"]


def _statistics(rows: int, **features: dict) -> object:
    """A statistics proto with one dataset of `rows` rows and the given common stats per feature."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    statistics = statistics_pb2.DatasetFeatureStatisticsList()
    dataset = statistics.datasets.add(num_examples=rows)
    for name, spec in features.items():
        feature = dataset.features.add()
        feature.path.step.append(name)
        kind = spec.pop("kind")
        stats = getattr(feature, kind)
        top = spec.pop("top", {})
        for key, value in spec.items():
            setattr(stats.common_stats, key, value)
        for value, frequency in top.items():
            stats.top_values.add(value=value, frequency=frequency)
    return statistics


def test_missing_counts_rows_with_no_value_absent_empty_or_empty_string() -> None:
    statistics = _statistics(
        10,
        # An empty CSV cell: present (num_non_missing) with no value (tot_num_values short).
        tract={"kind": "num_stats", "num_non_missing": 10, "min_num_values": 0,
               "max_num_values": 1, "tot_num_values": 1},
        fare={"kind": "num_stats", "num_non_missing": 10, "min_num_values": 1,
              "max_num_values": 1, "tot_num_values": 10},
        company={"kind": "string_stats", "num_non_missing": 8, "num_missing": 2,
                 "min_num_values": 1, "max_num_values": 1, "tot_num_values": 8,
                 "top": {"A": 5, "": 3}},
    )
    table = reports.feature_table(statistics)
    assert table["missing"].to_dict() == {"company": 5, "fare": 0, "tract": 9}
    assert table["present"].to_dict() == {"company": 5, "fare": 10, "tract": 1}
    assert table.loc["tract", "missing %"] == 90.0


def test_a_feature_with_no_value_in_any_row_has_no_mean() -> None:
    """TFDV's summary of a feature with no values is zeros: shown as NaN, not a mean of 0."""
    statistics = _statistics(
        4,
        tract={"kind": "num_stats", "num_non_missing": 4, "min_num_values": 0,
               "max_num_values": 0, "tot_num_values": 0},
        fare={"kind": "num_stats", "num_non_missing": 4, "min_num_values": 1,
              "max_num_values": 1, "tot_num_values": 4},
    )
    statistics.datasets[0].features[1].num_stats.mean = 7.5
    table = reports.feature_table(statistics)
    assert table.loc["tract", ["mean", "std", "min", "max"]].isna().all()
    assert table.loc["fare", "mean"] == 7.5


def _wide_table() -> pd.DataFrame:
    """Many metrics with long names, counts and a text column: wider than any page as one table."""
    metrics = {f"metric_number_{i}_with_a_long_name": [0.5 + i / 100, float("nan")] for i in range(12)}
    return pd.DataFrame({"example_count": pd.array([1_234_567, 3], dtype="Int64"), **metrics,
                         "note": ["", "n < 30; auc: one class"]}, index=["Overall", "hour=3"])


def test_page_splits_a_wide_table_into_parts_that_fit_keeping_every_column_once() -> None:
    table = _wide_table()
    parts = reports.page(table, characters=100).parts
    assert len(parts) > 1
    assert [column for part in parts for column in part.columns] == list(table.columns)
    for part in parts:
        assert list(part.index) == list(table.index)
        width = sum(max(len(reports.cell(v)) for v in (c, *part[c])) + reports.CELL_PADDING
                    for c in part.columns)
        assert width <= 100 - len("Overall") - reports.CELL_PADDING or len(part.columns) == 1


def test_page_keeps_the_columns_under_one_label_together() -> None:
    table = pd.concat({"eval": _wide_table(), "train": _wide_table()}, axis=1).swaplevel(axis=1)
    table = table.sort_index(axis=1)
    for part in reports.page(table, characters=100).parts:
        tops = [column[0] for column in part.columns]
        for top in set(tops):
            assert tops.count(top) == 2, part.columns  # eval and train side by side


def test_a_narrow_table_stays_one_table() -> None:
    table = pd.DataFrame({"auc": [0.9]}, index=["Overall"])
    assert [list(p.columns) for p in reports.page(table).parts] == [["auc"]]


def test_cells_show_counts_as_integers_fixed_decimals_and_undefined_as_nan() -> None:
    shown = [reports.cell(v) for v in (1_408_383_889, 0.94112, 1.4e9, 0.00083, float("nan"), pd.NA,
                                       None, True, pd.Timestamp("2026-12-05 02:00:57.078+00:00"),
                                       "Cash")]
    assert shown == ["1,408,383,889", "0.9411", "1,400,000,000.0000", "0.0008", "NaN", "NaN",
                     "NaN", "True", "2026-12-05 02:00:57", "Cash"]


def test_a_recorded_fact_keeps_its_digits_without_scientific_notation() -> None:
    assert [reports.exact(v) for v in (1e-05, 0.9411230158805847, 60, True, "1e-05")] == [
        "0.00001", "0.9411230158805847", 60, True, "1e-05"]


def test_the_html_of_a_page_is_its_parts_with_the_cells_as_shown() -> None:
    html = reports.page(_wide_table(), characters=100)._repr_html_()
    assert html.count('class="dataframe"') == len(reports.page(_wide_table(), characters=100).parts)
    assert ">1,234,567<" in html and ">NaN<" in html and "1234567.0" not in html
    assert "overflow-wrap: anywhere" in html
