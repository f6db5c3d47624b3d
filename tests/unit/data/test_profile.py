"""Profiling a CSV into a project: the task, one decision per column with its reason, thresholds,
slices and the curated schema, on small generated data sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.config.project import Task, Threshold, Treatment
from pipeline.data.csv_table import ProfileError
from pipeline.data.profile import Profile, profile
from pipeline.data.profile_schema import curated_schema
from tests.support.csv_columns import multiclass_columns, regression_columns, write_csv


def binary_columns(rows: int = 1500, seed: int = 0) -> dict[str, list]:
    """Churn-like data: a yes/no label and one column for each decision `init` makes."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, rows)
    rooms = rng.integers(0, 6, rows)
    plan = rng.choice(["basic", "plus", "pro"], rows)
    income = np.round(rng.normal(50_000, 15_000, rows), 2)
    churned = (rng.random(rows) < 0.2 + 0.3 * (plan == "basic")).astype(int)
    notes = [f"note {i}" if i % 50 == 0 else None for i in range(rows)]  # 98 % empty
    return {
        "row_id": list(range(1, rows + 1)),
        "customer": [f"C{i:05d}" for i in rng.permutation(rows)],
        "age": age.tolist(),
        "income": income.tolist(),
        "plan": plan.tolist(),
        "rooms": rooms.tolist(),
        "segment_id": rng.integers(0, 8, rows).tolist(),
        "rooms_twice": (rooms * 2 + 1).tolist(),
        "plan_name": [f"the {p} plan" for p in plan],
        "remark": [f"remark {i % (rows - 100)}" for i in range(rows)],
        "city": [f"city{c}" for c in rng.integers(0, 5000, rows)],
        "country": ["NL"] * rows,
        "notes": notes,
        "churn_code": [f"code{c}" for c in churned],
        "churn_score": (churned * 10 + rng.normal(0, 0.05, rows)).round(4).tolist(),
        "churned": ["yes" if c else "no" for c in churned],
    }


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Profile:
    folder = tmp_path_factory.mktemp("binary")
    write_csv(folder / "churn.csv", binary_columns())
    return profile(folder / "churn.csv", "churned")


def decisions(result: Profile) -> dict[str, tuple[str, str]]:
    return {d.column: (d.summary, d.reason) for d in result.decisions}


def test_binary_task_classes_and_positive(binary: Profile) -> None:
    assert binary.task is Task.BINARY and binary.rows == 1500
    assert binary.classes == ("no", "yes") and binary.positive_class == "yes"
    assert sum(binary.class_counts.values()) == 1500
    assert binary.baseline_margin == 0.01
    declared = binary.project("p", "data", "schema.pbtxt")
    assert declared.thresholds == () and declared.baseline_margin == 0.01
    # Live bounds: AUC a margin above chance, accuracy the base rate.
    majority = round(max(binary.class_counts.values()) / binary.rows, 3)
    assert binary.live_bounds == (Threshold("auc", lower=0.6), Threshold("accuracy", lower=majority))
    assert declared.live_bounds == binary.live_bounds


def test_binary_decisions(binary: Profile) -> None:
    found = decisions(binary)
    assert found["churned"][0] == "label"
    assert found["row_id"] == ("excluded", "unique per row (a row number or an id)")
    assert found["customer"][0] == "excluded" and "unique per row" in found["customer"][1]
    assert found["country"] == ("excluded", "constant (always 'NL')")
    assert found["notes"][0] == "excluded" and "mostly empty" in found["notes"][1]
    assert found["churn_code"] == ("excluded", "possible label leak: a one-to-one mapping of the label")
    assert found["churn_score"][0] == "excluded" and "possible label leak: correlation" in \
        found["churn_score"][1]
    assert found["age"][0] == "numeric" and found["income"][0] == "numeric"
    assert found["age"][1].endswith("z-score + 10 buckets")  # 1500 rows: enough for ten buckets
    assert binary.hyperparameters == {"l2": 0.013}  # 20 / 1500 rows
    assert found["plan"][0] == "vocabulary"
    features = {f.name: f for f in binary.features}
    # A count keeps its order; an integer column named as a code is categorical.
    assert features["rooms"].treatment is Treatment.NUMERIC
    assert found["rooms"][1].startswith("count or ordered integer with 6 distinct values in 0..5")
    assert features["segment_id"].treatment is Treatment.CATEGORICAL
    assert found["segment_id"][1].startswith("code (name ends in 'id'), 8 values in 0..7")
    # Columns repeating an earlier one are left out, with the statistic.
    assert found["rooms_twice"] == ("excluded", "near-duplicate of 'rooms' (correlation +1.0000)")
    assert found["plan_name"] == ("excluded",
                                  "near-duplicate of 'plan' (a one-to-one mapping of its 3 values)")
    assert found["remark"][0] == "excluded" and found["remark"][1].startswith(
        "nearly unique per row (1400 distinct values in 1500 rows, 93%)")
    assert features["city"].treatment is Treatment.HASHED
    distinct = binary.columns["city"].distinct
    assert distinct > 1000 and features["city"].buckets == min(2 * distinct, 10000)
    assert binary.slices == ("plan", "segment_id")


def test_curated_schema(binary: Profile) -> None:
    schema = curated_schema(binary)
    by_name = {f.name: f for f in schema.feature}
    assert set(by_name) == set(binary.columns)  # excluded columns are still in the CSV
    assert list(by_name["churned"].not_in_environment) == ["SERVING"]
    assert list(schema.default_environment) == ["TRAINING", "SERVING"]
    assert by_name["segment_id"].int_domain.max == 7 and by_name["segment_id"].int_domain.min == 0
    assert by_name["row_id"].presence.min_count == 0
    assert by_name["age"].presence.min_fraction == 1.0
    domains = {d.name: list(d.value) for d in schema.string_domain}
    assert domains[by_name["churned"].domain] == ["no", "yes"]


def test_a_column_with_empty_cells_may_have_no_value(tmp_path: Path) -> None:
    """CsvExampleGen writes an empty cell as a feature without values: the schema must allow 0."""
    columns = multiclass_columns()
    columns["width"] = [None if i % 10 == 0 else w for i, w in enumerate(columns["width"])]
    by_name = {f.name: f for f in curated_schema(profile(write_csv(tmp_path / "d.csv", columns),
                                                         "species")).feature}
    assert not by_name["width"].value_count.HasField("min") and by_name["width"].value_count.max == 1
    assert by_name["width"].presence.min_fraction == 0.9
    assert by_name["length"].value_count.min == 1  # present in every row


def test_positive_chosen_and_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", {"x": [1.5, 2.5, 3.5, 4.5] * 15,
                                          "y": ["a", "b", "b", "b"] * 15})
    assert profile(path, "y").classes == ("b", "a")  # the rarer value is positive
    assert profile(path, "y", positive="b").classes == ("a", "b")
    with pytest.raises(ProfileError, match="--positive 'c' is not a value"):
        profile(path, "y", positive="c")


def test_integer_label_prefers_one_as_positive(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", {"x": [1.5, 2.5, 3.5, 4.5] * 15, "y": [1, 1, 1, 0] * 15})
    result = profile(path, "y")
    assert result.task is Task.BINARY and result.classes == ("0", "1")
    assert result.class_counts == {"0": 15, "1": 45}
    with pytest.raises(ProfileError, match="--positive applies to a binary label"):
        profile(path, "x", positive="1.5")


def test_multiclass(tmp_path: Path) -> None:
    result = profile(write_csv(tmp_path / "iris.csv", multiclass_columns()), "species")
    assert result.task is Task.MULTICLASS
    assert result.classes == ("setosa", "versicolor", "virginica")
    assert result.baseline_margin == 0.02
    majority = max(result.class_counts.values()) / result.rows
    assert result.live_bounds == (Threshold("accuracy", lower=round(majority, 3)),)
    assert decisions(result)["color"][0] == "vocabulary"
    assert result.slices == ("color",)


def test_regression(tmp_path: Path) -> None:
    columns = regression_columns()
    result = profile(write_csv(tmp_path / "houses.csv", columns), "price")
    assert result.task is Task.REGRESSION and result.classes == ()
    assert result.baseline_margin == 0.05
    (bound,) = result.live_bounds  # worse than predicting the mean is an alert
    assert bound.metric == "rmse" and bound.lower is None
    assert bound.upper == pytest.approx(np.std(columns["price"]), rel=1e-4)
    found = decisions(result)
    assert found["size"][0] == "numeric" and found["region"][0] == "vocabulary"
    assert found["floor"][0] == "numeric"  # an ordered integer keeps its order
    assert result.slices == ("region",)
    # 300 rows: too few for ten buckets' own weights (1000), so z-scores only; a stronger L2.
    size = next(f for f in result.features if f.name == "size")
    assert size.buckets == 0 and found["size"][1].endswith("z-score, no buckets (300 rows: "
                                                           "10 buckets want 1000)")
    assert result.hyperparameters == {"l2": 0.067}
    assert result.project("houses", "d", "s").hyperparameters == {"l2": 0.067}


def test_buckets_and_the_penalty_follow_the_row_count() -> None:
    from pipeline.data.decisions import numeric_buckets, regularization

    assert numeric_buckets(500, 1000)[0] == 10 and numeric_buckets(500, 999)[0] == 0
    assert numeric_buckets(2, 200)[0] == 2 and numeric_buckets(3, 250)[0] == 0
    assert regularization(20_000) == {} and regularization(100_000) == {}
    assert regularization(19_000) == {"l2": 0.0011} and regularization(200) == {"l2": 0.1}


def test_folder_of_files_is_read_whole(tmp_path: Path) -> None:
    columns = multiclass_columns()
    write_csv(tmp_path / "a.csv", {k: v[:150] for k, v in columns.items()})
    write_csv(tmp_path / "b.csv", {k: v[150:] for k, v in columns.items()})
    result = profile(tmp_path, "species")
    assert result.rows == 300 and len(result.files) == 2


def test_init_names_a_column_unique_in_every_row_its_id_column(tmp_path: Path) -> None:
    """The first column excluded as unique per row with a value in every row; it stays excluded."""
    write_csv(tmp_path / "a" / "t.csv", {"code": [None] + [f"c{i}" for i in range(1, 60)],
                                         "row": list(range(60, 0, -1)),
                                         "size": [1.5, 2.5, 3.5, 0.5] * 15, "y": ["a", "b"] * 30})
    result = profile(tmp_path / "a" / "t.csv", "y")
    assert result.id_column == "row"  # `code` is unique but empty in one row
    project = result.project("t", "data/t", "models/t/schema.pbtxt")
    assert project.id_column == "row" and project.excluded["row"].startswith("unique per row")
    assert "row" not in project.feature_names
    write_csv(tmp_path / "b" / "t.csv", {"size": [1.5, 1.5, 3.5, 0.5] * 15, "y": ["a", "b"] * 30})
    assert profile(tmp_path / "b" / "t.csv", "y").id_column is None


def test_too_few_rows_or_a_rare_class_is_refused_before_anything_is_decided(tmp_path: Path) -> None:
    small = write_csv(tmp_path / "small.csv", {"x": [1.5, 2.5] * 20, "y": ["a", "b"] * 20})
    with pytest.raises(ProfileError, match=r"small.csv: 40 rows; at least 50"):
        profile(small, "y")
    rare = write_csv(tmp_path / "rare.csv", {"x": [float(i) for i in range(100)],
                                             "y": ["a"] * 48 + ["b"] * 48 + ["c"] * 4})
    with pytest.raises(ProfileError, match=r"rare.csv: label column 'y': class 'c' 4 time\(s\)"):
        profile(rare, "y")
