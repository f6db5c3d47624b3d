"""Fixtures shared by the serving command tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.cli import serving
from pipeline.config import MODELS_DIR
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
