"""serving-config and rollback work on a project's model: --project picks its store, pipeline,
model name and output folder; run settings (its data dir) are not read."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.__main__ import main
from pipeline.cli import serving
from pipeline.config import MODELS_DIR
from pipeline.serving import server_config
from tests.support.mlmd_fake import evaluated_and_pushed_runs


@pytest.fixture
def other_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A second project 'other' (taxi's declaration renamed) in a models dir of its own, with
    two pushed versions of its model; config files go under tmp_path/serving."""
    models = tmp_path / "models"
    (models / "other").mkdir(parents=True)
    text = (MODELS_DIR / "taxi" / "project.yaml").read_text().replace("name: taxi", "name: other")
    text = text.replace("data: data/taxi", "data: data/other").replace(
        "schema: models/taxi/schema.pbtxt", "schema: infer")
    (models / "other" / "project.yaml").write_text(text)
    (tmp_path / "data" / "other").mkdir(parents=True)
    shutil.copy(MODELS_DIR.parent / "pyproject.toml", tmp_path / "pyproject.toml")
    evaluated_and_pushed_runs(tmp_path / "other.sqlite", tmp_path, pipeline="other")
    monkeypatch.setattr(serving, "DEFAULT_OUTPUT_DIR", tmp_path / "serving")
    monkeypatch.setenv("PIPELINE_MODELS_DIR", str(models))
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(tmp_path / "no_such_dir"))  # not read
    return tmp_path


def test_serving_config_and_rollback_follow_the_project(other_project: Path, capsys) -> None:
    flags = ["--project", "other", "--metadata", str(other_project / "other.sqlite"),
             "--serving-dir", str(other_project / "serving_model")]
    assert main(["serving-config", *flags]) == 0
    output = other_project / "serving" / "other"
    plan = server_config.read_plan(output / server_config.MODELS_CONFIG, "other")
    assert plan.base_path == f"{other_project / 'serving_model'}/other"
    assert (plan.versions, plan.labels) == ((1, 2), {"stable": 2})
    assert main(["rollback", *flags, "--to", "1", "--reason", "drill"]) == 0
    (record,) = server_config.audit_records(output)
    assert (record["model"], record["from"], record["to"]) == ("other", 2, 1)
    assert "stable: version 2 -> 1" in capsys.readouterr().out


def test_serving_config_does_not_take_run_flags(capsys) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["serving-config", "--train-steps", "3"])
    assert exit.value.code == 2
