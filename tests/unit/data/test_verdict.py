"""The one verdict (pipeline.data.validation.judge): schema skew stops a run, value skew (a value
past the training range, a rare new category or integer code, a few more empty cells) is recorded,
drift between spans is measured and never counted as either."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from pipeline.config.project import DataLimits, DriftPolicy, ProjectError, parse_declaration
from pipeline.data import validation

ROWS = 200
DEFAULTS = DataLimits()
SCHEMA = """
default_environment: "TRAINING"
default_environment: "SERVING"
feature { name: "amount" type: FLOAT float_domain { min: 0 max: 50 }
          presence { min_fraction: 0.99 min_count: 1 } }
feature { name: "calls" type: INT int_domain { min: 0 max: 9 is_categorical: true }
          presence { min_fraction: 1.0 min_count: 1 } }
feature { name: "color" type: BYTES domain: "color" presence { min_fraction: 1.0 min_count: 1 }
          drift_comparator { infinity_norm { threshold: 0.2 } } }
feature { name: "target" type: INT presence { min_fraction: 1.0 min_count: 1 }
          not_in_environment: "SERVING" }
string_domain { name: "color" value: "red" value: "blue" }
"""


def schema() -> schema_pb2.Schema:
    return text_format.Parse(SCHEMA, schema_pb2.Schema())


def frame(**changes: object) -> pd.DataFrame:
    """200 rows within the schema; `changes` replace whole columns."""
    data = {
        "amount": [float(i % 50) for i in range(ROWS)],
        "calls": [i % 10 for i in range(ROWS)],
        "color": ["red" if i % 2 else "blue" for i in range(ROWS)],
        "target": [i % 2 for i in range(ROWS)],
    }
    data.update(changes)  # type: ignore[arg-type]
    return pd.DataFrame(data)


def verdict(data: pd.DataFrame, limits: DataLimits = DEFAULTS, previous: pd.DataFrame | None = None,
            environment: str = validation.TRAINING) -> validation.Verdict:
    current = tfdv.generate_statistics_from_dataframe(data)
    before = {"data": tfdv.generate_statistics_from_dataframe(previous)} if previous is not None else None
    return validation.judge({"data": current}, schema(), limits, environment, previous=before)


def changed(column: str, rows: dict[int, object]) -> list[object]:
    values = list(frame()[column])
    for row, value in rows.items():
        values[row] = value
    return values


def test_clean_data_has_no_finding() -> None:
    found = verdict(frame())
    assert (found.schema_skew, found.value_skew, found.drift) == ([], [], [])


def test_growth_is_value_skew_never_a_stop() -> None:
    """A number past the training range, a new integer code (10 calls, training max 9) and a rare
    new category: each recorded, none stops."""
    grown = frame(amount=changed("amount", {0: 75.0}), calls=changed("calls", {1: 10}),
                  color=changed("color", {2: "green"}))
    found = verdict(grown)
    assert not found.stops, found.schema_skew
    assert found.features("value_skew") == {"amount", "calls", "color"}
    assert any("green" in line for line in found.value_skew)


@pytest.mark.parametrize(("data", "feature"), [
    (frame(amount=["cheap"] * ROWS), "amount"),                       # a type change
    (frame().drop(columns=["color"]), "color"),                        # a missing column
    (frame(color=changed("color", {i: "green" for i in range(40)})), "color"),  # 20 % unknown
    (frame(amount=changed("amount", {i: None for i in range(40)})), "amount"),  # 20 % empty
    (frame(amount=changed("amount", {3: -5.0})), "amount"),            # below the declared minimum
])
def test_broken_data_is_schema_skew(data: pd.DataFrame, feature: str) -> None:
    found = verdict(data)
    assert found.stops
    assert feature in found.features("schema_skew")


def test_the_declared_bounds_move_the_line_between_the_two() -> None:
    """3 % empty and 3 % unknown: value skew under the default 5 %, schema skew under 1 %."""
    data = frame(amount=changed("amount", {i: None for i in range(6)}),
                 color=changed("color", {i: "green" for i in range(6, 12)}))
    assert not verdict(data).stops
    assert verdict(data).features("value_skew") == {"amount", "color"}
    strict = verdict(data, DataLimits(max_missing_share=0.01, max_unknown_share=0.01))
    assert strict.features("schema_skew") == {"amount", "color"}


def test_a_label_that_cannot_train_is_schema_skew() -> None:
    """One class only; or a class the schema does not know, however rare (no growth for labels)."""
    project = parse_declaration(
        "name: p\ndata: d\nlabel: target\ntask: binary\npositive_class: '1'\nclasses: ['0', '1']\n"
        "features: {amount: numeric}\n", Path("p/project.yaml"))
    labelled = schema()
    labelled.feature[3].int_domain.min, labelled.feature[3].int_domain.max = 0, 1
    for labels, line in (([0] * ROWS, "label 'target'"), (changed("target", {0: 7}), "'target'")):
        statistics = tfdv.generate_statistics_from_dataframe(frame(target=labels))
        found = validation.judge({"train": statistics}, labelled, DataLimits(), validation.TRAINING,
                                 project=project)
        assert found.stops and any(line in problem for problem in found.schema_skew), found


def test_drift_is_measured_apart_from_skew() -> None:
    """Every row blue where half were: the color distance crosses 0.2, nothing stops."""
    found = verdict(frame(color=["blue"] * ROWS), previous=frame())
    assert not found.stops and found.value_skew == []
    [drift] = found.drift
    assert (drift.feature, drift.measure, drift.threshold) == ("color", "l_infty", pytest.approx(0.2))
    assert drift.distance == pytest.approx(0.5)


def test_the_label_in_serving_data_is_no_finding() -> None:
    found = verdict(frame(), environment=validation.SERVING)
    assert (found.schema_skew, found.value_skew) == ([], [])


def test_the_declaration_reads_the_validation_section(tmp_path: Path) -> None:
    base = "name: p\ndata: d\nlabel: y\ntask: regression\nfeatures: {x: numeric}\n"
    path = tmp_path / "project.yaml"
    assert parse_declaration(base, path).validation == DataLimits()
    limits = parse_declaration(
        base + "validation: {max_missing_share: 0.2, drift: stop}\n", path).validation
    assert limits == DataLimits(max_missing_share=0.2, drift=DriftPolicy.STOP)
    for bad in ("{max_missing_share: 1.5}", "{drift: ignore}", "{unknown_key: 1}"):
        with pytest.raises(ProjectError, match="validation"):
            parse_declaration(base + f"validation: {bad}\n", path)
