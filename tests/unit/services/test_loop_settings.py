"""The loop DAGs read their settings one way: a relative path is the project root's, whatever
directory the scheduler parses the DAG file from."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT
from pipeline.services.airflow_loop import loop_settings

FIELDS = ("project", "requests_file", "metadata_path", "pipeline_dag")
PATHS = ("requests_file", "metadata_path")


def test_relative_paths_are_the_project_roots_and_absolute_ones_stay(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    values = loop_settings(FIELDS, "PIPELINE_X_", PATHS, {
        "PIPELINE_X_REQUESTS_FILE": "requests/latest.csv",
        "PIPELINE_X_METADATA_PATH": "/srv/metadata.sqlite", "PIPELINE_PROJECT": "penguins"})
    assert values["requests_file"] == PROJECT_ROOT / "requests" / "latest.csv"
    assert values["metadata_path"] == Path("/srv/metadata.sqlite")
    assert values["project"] == "penguins"
    assert values["pipeline_dag"] == "penguins" and values["model_name"] == "penguins"


def test_the_dags_own_project_variable_wins_and_text_stays_text() -> None:
    values = loop_settings(FIELDS, "PIPELINE_X_", PATHS, {
        "PIPELINE_X_PROJECT": "churn", "PIPELINE_PROJECT": "penguins",
        "PIPELINE_X_PIPELINE_DAG": "churn_v2"})
    assert (values["project"], values["pipeline_dag"]) == ("churn", "churn_v2")
    assert "requests_file" not in values
