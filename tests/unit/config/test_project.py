"""The project declaration: parsing, validation naming file and field, and the round trip init relies on."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT
from pipeline.config.project import (
    Project,
    ProjectError,
    Task,
    Treatment,
    declaration_text,
    load_project,
    parse_declaration,
)

MODELS = PROJECT_ROOT / "models"
MINIMAL = """
name: flowers
data: data/flowers
label: species
task: multiclass
classes: [setosa, versicolor, virginica]
features:
  petal_length: numeric
  colour: {treatment: vocabulary, top_k: 20}
metrics:
  thresholds:
    accuracy: {min: 0.8}
"""


@pytest.mark.taxi
def test_the_bundled_taxi_project_parses_and_round_trips() -> None:
    taxi = load_project("taxi", MODELS)
    assert taxi.task is Task.BINARY and taxi.primary_metric.name == "auc"
    assert taxi.positive_class == "1" and "fare" in taxi.feature_names
    text = declaration_text(taxi)
    assert parse_declaration(text, MODELS / "taxi" / "project.yaml") == taxi
    assert Project.from_dict(taxi.to_dict()) == dataclasses.replace(taxi, directory=None)


def test_a_minimal_declaration_gets_defaults_by_task() -> None:
    project = parse_declaration(MINIMAL, Path("flowers/project.yaml"))
    assert project.features[0].treatment is Treatment.NUMERIC
    assert project.primary_metric.tfma_key == "sparse_categorical_accuracy"
    assert project.preprocessing_fn == "models.common.preprocessing.preprocessing_fn"
    assert [t.lower for t in project.thresholds] == [0.8]


@pytest.mark.parametrize("change, field", [
    (("task: multiclass", "task: ranking"), "task"),
    (("petal_length: numeric", "petal_length: squared"), "features.petal_length.treatment"),
    (("accuracy: {min: 0.8}", "auc: {min: 0.8}"), "no metric 'auc'"),
    (("label: species", "label: petal_length"), "label"),
    (("classes: [setosa, versicolor, virginica]", "classes: []"), "classes"),
    (("name: flowers", "name: flowers\nsurprise: 1"), "fields"),
    (("  colour: {treatment: vocabulary, top_k: 20}", "  colour: {treatment: vocabulary, topk: 20}"),
     "features.colour"),
])
def test_an_invalid_declaration_names_the_file_and_field(change: tuple[str, str], field: str) -> None:
    text = MINIMAL.replace(*change)
    with pytest.raises(ProjectError, match=field) as raised:
        parse_declaration(text, Path("flowers/project.yaml"))
    assert "flowers/project.yaml" in str(raised.value)


def test_a_missing_project_lists_the_known_ones(tmp_path: Path) -> None:
    (tmp_path / "alpha").mkdir()
    (tmp_path / "alpha" / "project.yaml").write_text(MINIMAL)
    with pytest.raises(ProjectError, match="projects: alpha"):
        load_project("beta", tmp_path)


def test_yaml_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(ProjectError, match="expected a mapping"):
        parse_declaration("- just\n- a list\n", Path("x/project.yaml"))
