"""`monitor` compares against the version the `stable` label points at, not the newest push:
two pushed versions in a small ML Metadata store, each traced back to its own run's statistics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline import vocabulary
from pipeline.__main__ import main
from pipeline.cli import monitoring as monitoring_cli
from pipeline.monitoring import skew_drift
from pipeline.serving import server_config
from tests.support.mlmd_fake import FakePipeline, evaluated_and_pushed_runs


@pytest.fixture
def two_pushes(tmp_path: Path) -> FakePipeline:
    """Runs 1 and 2 pushed versions 1 and 2; each recorded its StatisticsGen and DataGate outputs."""
    fake = evaluated_and_pushed_runs(tmp_path / "taxi.sqlite", tmp_path)
    for number in (1, 2):
        folder = tmp_path / f"run-{number}"
        fake.execute(f"run-{number}", vocabulary.STATISTICS_GEN, outputs={
            "statistics": fake.artifact("ExampleStatistics", str(folder / "statistics"))})
        fake.execute(f"run-{number}", vocabulary.DATA_GATE, outputs={
            "validated_schema": fake.artifact("Schema", str(folder / "schema"))})
    return fake


def write_stable(output_dir: Path, stable: int) -> None:
    """models.config as serving-config writes it, with `stable` on the given version."""
    plan = server_config.plan_config("taxi", "/models/taxi", [1, 2], stable=stable)
    server_config.write_config_files(plan, output_dir, server_config.BatchingSettings())


def test_baseline_is_the_stable_version_not_the_newest_push(
    two_pushes: FakePipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_stable(tmp_path / "config", stable=1)
    version = monitoring_cli.stable_version(tmp_path / "config", "taxi")
    assert version == "1" and "baseline: version 1, the 'stable' label" in capsys.readouterr().out
    baseline = skew_drift.serving_baseline(two_pushes.store, "taxi", version)
    assert (baseline.run_id, baseline.pushed_version) == ("run-1", "1")
    assert baseline.statistics_uri == f"{tmp_path}/run-1/statistics/Split-train/FeatureStats.pb"


def test_without_a_serving_config_the_newest_push_is_the_baseline(
    two_pushes: FakePipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert monitoring_cli.stable_version(tmp_path / "none", "taxi") is None
    assert "baseline: the newest push" in capsys.readouterr().out
    assert skew_drift.serving_baseline(two_pushes.store, "taxi").run_id == "run-2"


def test_a_stable_version_the_store_never_pushed_is_a_clear_error(
    two_pushes: FakePipeline
) -> None:
    with pytest.raises(skew_drift.MonitoringError, match="served version 7: .*pushed: 1, 2"):
        skew_drift.serving_baseline(two_pushes.store, "taxi", "7")


def test_the_command_passes_the_stable_version_to_the_check(
    two_pushes: FakePipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_stable(tmp_path / "config", stable=1)
    seen: dict[str, object] = {}

    def checked(*args: object, **kwargs: object) -> skew_drift.MonitoringResult:
        seen["version"] = args[-1]
        return skew_drift.MonitoringResult(report_path=tmp_path / "report.md")

    monkeypatch.setattr(skew_drift, "monitor", checked)
    csv = tmp_path / "requests.csv"
    csv.write_text("fare\n1.0\n")
    assert main(["monitor", str(csv), "--metadata", str(tmp_path / "taxi.sqlite"),
                 "--serving-config-dir", str(tmp_path / "config"),
                 "--state-dir", str(tmp_path / "state")]) == 0
    assert seen["version"] == "1"


def test_with_json_stdout_is_the_json_alone(
    two_pushes: FakePipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(skew_drift, "monitor", lambda *args, **kwargs: skew_drift.MonitoringResult(
        skew=["feature 'fare': too far"], report_path=tmp_path / "report.md"))
    csv = tmp_path / "requests.csv"
    csv.write_text("fare\n1.0\n")
    assert main(["monitor", str(csv), "--json", "--metadata", str(tmp_path / "taxi.sqlite"),
                 "--serving-config-dir", str(tmp_path / "none"),
                 "--state-dir", str(tmp_path / "state")]) == 1
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert (result["alert"], result["skew"]) == (True, ["feature 'fare': too far"])
    assert "baseline: the newest push" in captured.err
