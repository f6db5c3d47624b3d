"""`monitor` on the session's shared taxi run: a window of the very rows it trained on passes with
every declared feature compared (integer codes included) and without the excluded columns; a fare
scaled by 1.5 and a payment mix moved by 30 points are caught, each named with its distance and
threshold."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.__main__ import main
from pipeline.config import MODELS_DIR
from pipeline.config.project import load_project
from tests.support.configs import SAMPLE_DATA

pytestmark = [pytest.mark.e2e, pytest.mark.taxi]


def window(path: Path, change=lambda index, row: row) -> Path:
    """The sample's rows without the declaration's excluded columns, each passed through `change`."""
    excluded = set(load_project("taxi", MODELS_DIR).excluded)
    with (SAMPLE_DATA / "data.csv").open(newline="") as handle:
        rows = [{k: v for k, v in row.items() if k not in excluded}
                for row in csv.DictReader(handle)]
    changed = [change(index, dict(row)) for index, row in enumerate(rows)]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(changed[0]))
        writer.writeheader()
        writer.writerows(changed)
    return path


def monitored(shared_config, csv_path: Path, state: Path, capsys) -> tuple[int, dict]:
    """`monitor FILE --json` against the shared run's store: exit code and the JSON printed."""
    code = main(["monitor", str(csv_path), "--project", "taxi", "--json",
                 "--metadata", str(shared_config.metadata_path), "--state-dir", str(state),
                 "--serving-config-dir", str(state / "no-serving-config")])
    output = capsys.readouterr().out
    result = json.loads(output[output.index("{"):])
    with capsys.disabled():  # the measured values docs/continuous_training.md quotes
        print(f"\n{csv_path.name}: exit {code}; " + "; ".join(
            f"{c['comparison']} {c['feature']} {c['value']:.3f}/{c['threshold']:.3f}"
            for c in result["monitored"]))
    return code, result


def scaled_fare(index: int, row: dict) -> dict:
    return {**row, "fare": str(float(row["fare"]) * 1.5)}


def more_cash(rows: int) -> Callable[[int, dict], dict]:
    """A change moving 30 points of the payment mix to cash: the first non-cash rows, 30 % of
    `rows` of them, now paid in cash."""
    with (SAMPLE_DATA / "data.csv").open(newline="") as handle:
        other = [i for i, row in enumerate(csv.DictReader(handle)) if row["payment_type"] != "Cash"]
    moved = set(other[:int(0.3 * rows)])
    return lambda index, row: {**row, "payment_type": "Cash"} if index in moved else row


def test_monitor_passes_the_training_rows_and_catches_real_shifts(
        shared_run, shared_config, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    clean_code, clean = monitored(shared_config, window(tmp_path / "clean.csv"),
                                  tmp_path / "clean-state", capsys)
    assert (clean_code, clean["alert"], clean["schema"]) == (0, False, [])
    features = load_project("taxi", MODELS_DIR).feature_names
    assert sorted(c["feature"] for c in clean["monitored"]) == sorted(features)
    assert clean["unmonitored"] == {}
    assert clean["not_required"]["tips"].startswith("excluded: ")  # absent, and no problem
    hour = next(c for c in clean["monitored"] if c["feature"] == "trip_start_hour")
    assert hour["distance"] == "l_infinity" and 0 < hour["noise"] < hour["threshold"]

    for change, feature in ((scaled_fare, "fare"), (more_cash(clean["rows"]), "payment_type")):
        csv_path = window(tmp_path / f"{feature}.csv", change)
        code, result = monitored(shared_config, csv_path, tmp_path / f"{feature}-state", capsys)
        crossed = [c["feature"] for c in result["monitored"] if c["crossed"]]
        assert (code, crossed) == (1, [feature]), result
        assert result["skew"][0].startswith(f"feature '{feature}': ")


def test_monitor_compares_a_window_with_the_last_one_and_names_missing_features(
        shared_run, shared_config, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    state = tmp_path / "state"
    monitored(shared_config, window(tmp_path / "first.csv"), state, capsys)
    without_company = window(tmp_path / "second.csv", lambda i, row: {
        k: v for k, v in row.items() if k != "company"})
    code, result = monitored(shared_config, without_company, state, capsys)
    assert result["unmonitored"] == {"company": "absent from this window"}
    assert any("company" in line for line in result["schema"])  # a feature is still required
    assert code == 1
    drift = [c for c in result["monitored"] if c["comparison"] == "drift"]
    assert len(drift) == 13 and not any(c["crossed"] for c in drift)
