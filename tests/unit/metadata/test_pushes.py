"""Pushed versions are per pipeline: two pipelines sharing one store never see each other's pushes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.__main__ import main
from pipeline.metadata import provenance, pushes, records
from pipeline.monitoring import skew_drift
from pipeline.serving import server_config
from tests.support.mlmd_fake import FakePipeline


def _push(fake: FakePipeline, run_id: str, version: int, serving: Path) -> None:
    """A run of `fake`: statistics, validated schema, a blessed model, pushed as `version`."""
    fake.execute(run_id, "StatisticsGen",
                 outputs={"statistics": fake.artifact("ExampleStatistics", f"/{run_id}/stats")})
    fake.execute(run_id, "DataGate",
                 outputs={"validated_schema": fake.artifact("Schema", f"/{run_id}/schema")})
    model = fake.execute(run_id, "Trainer", outputs={
        "model": fake.artifact("Model", f"/{run_id}/model")})["model"]
    blessing = fake.execute(run_id, "Evaluator", outputs={
        "blessing": fake.artifact("ModelBlessing", f"/{run_id}/blessing", blessed=1)})["blessing"]
    destination = serving / str(version)
    destination.mkdir(parents=True)
    (destination / "saved_model.pb").write_bytes(b"")
    pushed = fake.artifact("PushedModel", f"/{run_id}/pushed", pushed=1,
                           pushed_version=str(version), pushed_destination=str(destination))
    fake.execute(run_id, "ServingPusher", inputs={"model": model, "model_blessing": blessing},
                 outputs={"pushed_model": pushed})


@pytest.fixture
def shared(tmp_path: Path) -> tuple[Path, Path, FakePipeline]:
    """'taxi' pushed versions 1 and 2, then 'other' pushed 3, into one store and serving dir."""
    path, serving = tmp_path / "metadata.sqlite", tmp_path / "serving" / "taxi"
    taxi = FakePipeline(path, "taxi")
    _push(taxi, "taxi-run-1", 1, serving)
    _push(taxi, "taxi-run-2", 2, serving)
    other = FakePipeline(path, "other")
    _push(other, "other-run-1", 3, serving)
    # A model the Pusher did not publish is no pushed version of anyone.
    other.execute("other-run-2", "ServingPusher", outputs={"pushed_model": other.artifact(
        "PushedModel", "/other-run-2/pushed", pushed=0, push_decision="not blessed")})
    return path, serving, other


def _versions(store, name: str) -> list[str | None]:
    return [records.pushed_version(a) for a in pushes.pushed_models(store, name)]


def test_pushed_models_are_those_of_the_named_pipeline(shared) -> None:
    _, _, fake = shared
    assert _versions(fake.store, "taxi") == ["1", "2"]
    assert _versions(fake.store, "other") == ["3"]
    assert _versions(fake.store, "unknown") == []


def test_every_reader_of_pushed_versions_keeps_the_pipelines_apart(shared) -> None:
    _, serving, fake = shared
    store = fake.store
    assert [(r.version, r.run_id) for r in pushes.version_records(store, "taxi")] == [
        ("1", "taxi-run-1"), ("2", "taxi-run-2")]
    assert [(r.version, r.run_id) for r in pushes.version_records(store, "other")] == [
        ("3", "other-run-1")]
    assert server_config.blessed_pushed_versions(store, "taxi", serving) == [1, 2]
    assert server_config.blessed_pushed_versions(store, "other", serving) == [3]
    assert skew_drift.serving_baseline(store, "taxi").run_id == "taxi-run-2"
    assert skew_drift.serving_baseline(store, "other").pushed_version == "3"
    assert pushes.pushed_model(store, "taxi").uri == "/taxi-run-2/pushed"
    assert pushes.previous_version(store, "taxi", "2") == "1"
    assert pushes.previous_version(store, "other", "3") is None
    assert provenance.version_provenance(store, "other", read_metrics=dict).run_id == "other-run-1"
    assert [r.pushed_version for r in records.list_runs(store, "other")] == ["3", None]
    with pytest.raises(skew_drift.MonitoringError, match="pipeline 'unknown'"):
        skew_drift.serving_baseline(store, "unknown")


def test_versions_command_lists_only_the_pipeline_asked_for(shared, capsys) -> None:
    path, _, _ = shared
    assert main(["versions", "--metadata", str(path), "--pipeline-name", "other"]) == 0
    out = capsys.readouterr().out
    assert "version 3  run other-run-1" in out and "version 1" not in out
    assert main(["versions", "--metadata", str(path)]) == 0
    out = capsys.readouterr().out
    assert "version 1  run taxi-run-1" in out and "version 3" not in out
