"""The project declaration: parsing, validation naming file and field, and the round trip init relies on."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT, store_config
from pipeline.config.project import (
    DriftThresholds,
    Project,
    ProjectError,
    Reproducibility,
    Task,
    ThresholdDeclaration,
    ThresholdRule,
    Tolerance,
    Treatment,
    declaration_text,
    load_project,
    parse_declaration,
    project_names,
)
from pipeline.vocabulary import SCHEMA_FILE

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


def test_the_bundled_projects_keep_their_schema_beside_their_declaration() -> None:
    """Both bundled projects follow the layout `init` writes: models/<name>/project.yaml and schema.pbtxt."""
    assert {"taxi", "penguins"} <= set(project_names(MODELS))
    for name in ("taxi", "penguins"):
        assert load_project(name, MODELS).schema == f"models/{name}/{SCHEMA_FILE}", name
        assert (MODELS / name / SCHEMA_FILE).is_file(), name


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
    (("petal_length: numeric", "petal_length: {treatment: numeric, buckets: 1}"),
     "features.petal_length.buckets: must be 0"),
    (("petal_length: numeric", "petal_length: {treatment: bucketized, buckets: 0}"),
     "features.petal_length.buckets: must be > 1"),
])
def test_an_invalid_declaration_names_the_file_and_field(change: tuple[str, str], field: str) -> None:
    text = MINIMAL.replace(*change)
    with pytest.raises(ProjectError, match=field) as raised:
        parse_declaration(text, Path("flowers/project.yaml"))
    assert "flowers/project.yaml" in str(raised.value)


def test_a_numeric_feature_may_go_without_buckets() -> None:
    from models.common import features

    text = MINIMAL.replace("petal_length: numeric", "petal_length: {treatment: numeric, buckets: 0}")
    project = parse_declaration(text, Path("flowers/project.yaml"))
    assert project.features[0].buckets == 0
    written = parse_declaration(declaration_text(project), Path("flowers/project.yaml"))
    assert written.features == project.features
    # The z-score is the model's only input of the column: no bucket ids.
    assert features.model_input_names(project) == ["colour_xf", "petal_length_xf"]
    with_buckets = parse_declaration(MINIMAL, Path("flowers/project.yaml"))
    assert "petal_length_bucket_xf" in features.model_input_names(with_buckets)


def test_a_missing_project_lists_the_known_ones(tmp_path: Path) -> None:
    (tmp_path / "alpha").mkdir()
    (tmp_path / "alpha" / "project.yaml").write_text(MINIMAL)
    with pytest.raises(ProjectError, match="projects: alpha"):
        load_project("beta", tmp_path)


def test_yaml_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(ProjectError, match="expected a mapping"):
        parse_declaration("- just\n- a list\n", Path("x/project.yaml"))


def test_reproducibility_defaults_apply_when_the_section_is_absent() -> None:
    project = parse_declaration(MINIMAL, Path("flowers/project.yaml"))
    assert project.reproducibility == Reproducibility()
    assert project.reproducibility.transformed == Tolerance(abs=1e-5, rel=1e-5)
    assert project.reproducibility.metrics == Tolerance(abs=1e-4, rel=1e-4)


def test_reproducibility_tolerances_parse_and_round_trip() -> None:
    text = MINIMAL + ("reproducibility:\n  examples: exact\n  transformed: exact\n"
                      "  metrics: {abs: 0.002, rel: 0}\n")
    project = parse_declaration(text, Path("flowers/project.yaml"))
    assert project.reproducibility == Reproducibility(Tolerance(), Tolerance(abs=0.002))
    written = parse_declaration(declaration_text(project), Path("flowers/project.yaml"))
    assert written.reproducibility == project.reproducibility
    assert Project.from_dict(project.to_dict()) == dataclasses.replace(project, directory=None)
    # Runs recorded before the section existed have no key in their custom_config.
    recorded = {k: v for k, v in project.to_dict().items() if k != "reproducibility"}
    assert Project.from_dict(recorded).reproducibility == Reproducibility()


def test_a_partial_reproducibility_section_keeps_the_other_defaults() -> None:
    text = MINIMAL + "reproducibility:\n  metrics: {rel: 0.001}\n"
    bounds = parse_declaration(text, Path("flowers/project.yaml")).reproducibility
    assert bounds.metrics == Tolerance(abs=0.0, rel=0.001)
    assert bounds.transformed == Reproducibility().transformed


@pytest.mark.parametrize("section, field", [
    ("  examples: {abs: 0.1}\n", "reproducibility.examples"),
    ("  model: exact\n", "reproducibility"),
    ("  metrics: {abs: -1}\n", "reproducibility.metrics"),
    ("  metrics: {absolute: 1}\n", "reproducibility.metrics"),
    ("  transformed: loose\n", "reproducibility.transformed"),
])
def test_an_invalid_reproducibility_section_names_the_field(section: str, field: str) -> None:
    with pytest.raises(ProjectError, match=field):
        parse_declaration(MINIMAL + "reproducibility:\n" + section, Path("flowers/project.yaml"))


def test_drift_thresholds_default_parse_and_round_trip() -> None:
    path = Path("flowers/project.yaml")
    assert parse_declaration(MINIMAL, path).drift_thresholds == DriftThresholds(1.5, 0.02)
    project = parse_declaration(MINIMAL + "drift_thresholds: {factor: 3}\n", path)
    assert project.drift_thresholds == DriftThresholds(factor=3.0, floor=0.02)
    assert parse_declaration(declaration_text(project), path).drift_thresholds == \
        project.drift_thresholds
    assert Project.from_dict(project.to_dict()).drift_thresholds == project.drift_thresholds
    recorded = {k: v for k, v in project.to_dict().items() if k != "drift_thresholds"}
    assert Project.from_dict(recorded).drift_thresholds == DriftThresholds()


@pytest.mark.parametrize("section, field", [
    ("drift_thresholds: {factor: 0}\n", "drift_thresholds.factor"),
    ("drift_thresholds: {floor: -0.1}\n", "drift_thresholds.floor"),
    ("drift_thresholds: {factor: .nan}\n", "drift_thresholds.factor"),
    ("drift_thresholds: {factor: high}\n", "drift_thresholds.factor"),
    ("drift_thresholds: {quantile: 0.9}\n", "drift_thresholds"),
    ("drift_thresholds: 2\n", "drift_thresholds"),
])
def test_an_invalid_drift_thresholds_section_names_the_field(section: str, field: str) -> None:
    with pytest.raises(ProjectError, match=field):
        parse_declaration(MINIMAL + section, Path("flowers/project.yaml"))


@pytest.mark.parametrize("a, b, allowed", [
    (1.0, 1.0, True), (1.0, 1.0 + 1e-5, True), (1.0, 1.0 + 3e-5, False),
    (1000.0, 1000.01, True), (1000.0, 1000.02, False),
    (float("nan"), float("nan"), True), (float("nan"), 1.0, False),
    (float("inf"), float("inf"), True), (float("inf"), 1e308, False),
])
def test_a_tolerance_is_abs_plus_rel_times_the_larger_magnitude(a: float, b: float, allowed: bool) -> None:
    bound = Tolerance(abs=1e-5, rel=1e-5)
    assert bound.allows(a, b) is allowed and bound.allows(b, a) is allowed
    assert Tolerance().allows(1.0, 1.0) and not Tolerance().allows(1.0, 1.0 + 2**-52)
    assert Tolerance().describe() == "exact" and bound.describe() == "1e-05 abs + 1e-05 rel"


# --- id_column ---------------------------------------------------------------------------------

def test_id_column_is_parsed_validated_and_written_back(tmp_path: Path) -> None:
    """Optional; never a feature or the label; declaration_text keeps it."""
    path = tmp_path / "project.yaml"
    assert parse_declaration(MINIMAL, path).id_column is None
    project = parse_declaration(MINIMAL + "id_column: flower_id\n", path)
    assert project.id_column == "flower_id"
    assert parse_declaration(declaration_text(project), path).id_column == "flower_id"
    for taken in ("petal_length", "species"):
        with pytest.raises(ProjectError, match=rf"{path}: id_column: '{taken}' is also a feature"):
            parse_declaration(MINIMAL + f"id_column: {taken}\n", path)


def test_auc_of_a_binary_slice_with_one_class_is_undefined_not_a_number() -> None:
    taxi = store_config({}).declaration
    one_class = {"auc": 0.0, "binary_accuracy": 0.98, "precision": float("nan"), "mean_label": 0.0}
    assert taxi.undefined_metrics(one_class) == {"precision": "undefined", "auc": "one class"}
    defined = taxi.defined_metrics(one_class)
    assert math.isnan(defined["auc"]) and defined["binary_accuracy"] == 0.98
    assert math.isnan(taxi.named_metrics(one_class)["auc"])
    both = {"auc": 0.0, "mean_label": 0.5}
    assert taxi.undefined_metrics(both) == {} and taxi.defined_metrics(both)["auc"] == 0.0


def test_min_slice_examples_is_declared_and_checked() -> None:
    declaration = declaration_text(store_config({}).declaration)
    assert "min_slice_examples: 30" in declaration
    path = Path("models/p/project.yaml")
    raised = declaration.replace("min_slice_examples: 30", "min_slice_examples: 200")
    assert parse_declaration(raised, path).min_slice_examples == 200
    with pytest.raises(ProjectError, match="metrics.min_slice_examples"):
        parse_declaration(declaration.replace("min_slice_examples: 30", "min_slice_examples: -1"), path)


def test_the_summary_line_says_undefined_instead_of_a_number() -> None:
    from pipeline.metadata.summary import metrics_text

    taxi = store_config({}).declaration
    text = metrics_text(taxi, {"auc": 0.0, "binary_accuracy": 1.0, "mean_label": 1.0})
    assert text == "auc one class  accuracy 1.0000"
def test_the_baseline_margin_parses_round_trips_and_is_off_by_default(tmp_path: Path) -> None:
    assert parse_declaration(MINIMAL, Path("flowers/project.yaml")).baseline_margin is None
    text = MINIMAL + "  baseline_margin: 0.02\n"
    project = parse_declaration(text, Path("flowers/project.yaml"))
    assert project.baseline_margin == 0.02
    assert parse_declaration(declaration_text(project), Path("flowers/project.yaml")).baseline_margin == 0.02
    assert Project.from_dict(project.to_dict()).baseline_margin == 0.02


@pytest.mark.parametrize("value", ["-0.1", "lots", "true", ".nan"])
def test_an_invalid_baseline_margin_names_the_field(value: str) -> None:
    with pytest.raises(ProjectError, match="metrics.baseline_margin"):
        parse_declaration(MINIMAL + f"  baseline_margin: {value}\n", Path("flowers/project.yaml"))


BINARY = """
name: churn
data: data/churn
label: churned
task: binary
classes: ["no", "yes"]
positive_class: "yes"
features:
  calls: numeric
"""


@pytest.mark.parametrize(("spec", "rule", "value"), [
    ("{rule: max_f1}", ThresholdRule.MAX_F1, None),
    ("{rule: precision_at, value: 0.8}", ThresholdRule.PRECISION_AT, 0.8),
    ("{rule: recall_at, value: 1}", ThresholdRule.RECALL_AT, 1.0),
    ("{rule: fixed, value: 0.3}", ThresholdRule.FIXED, 0.3),
])
def test_a_decision_threshold_parses_and_round_trips(spec: str, rule: ThresholdRule,
                                                     value: float | None) -> None:
    path = Path("churn/project.yaml")
    project = parse_declaration(BINARY + f"decision_threshold: {spec}\n", path)
    assert project.decision_threshold == ThresholdDeclaration(rule, value)
    assert parse_declaration(declaration_text(project), path).decision_threshold == (
        project.decision_threshold)
    assert Project.from_dict(project.to_dict()) == dataclasses.replace(project, directory=None)


def test_a_binary_project_without_a_decision_threshold_cuts_at_one_half() -> None:
    project = parse_declaration(BINARY, Path("churn/project.yaml"))
    assert project.decision_threshold == ThresholdDeclaration(ThresholdRule.FIXED, 0.5)
    assert Project.from_dict({k: v for k, v in project.to_dict().items()
                              if k != "decision_threshold"}).decision_threshold.value == 0.5


@pytest.mark.parametrize(("spec", "message"), [
    ("{rule: best}", "decision_threshold.rule: 'best' is not one of"),
    ("{rule: max_f1, value: 0.4}", "decision_threshold.value: max_f1 takes no value"),
    ("{rule: precision_at}", "decision_threshold.value: precision_at needs a value in (0, 1]"),
    ("{rule: recall_at, value: 1.5}", "recall_at needs a value in (0, 1], got 1.5"),
    ("{rule: fixed, value: 1}", "fixed needs a value in (0, 1), got 1"),
    ("{rule: fixed, value: 'half'}", "fixed needs a value in (0, 1), got 'half'"),
    ("{rule: fixed, value: true}", "fixed needs a value in (0, 1), got True"),
    ("{rule: max_f1, cut: 2}", "decision_threshold: unknown ['cut']"),
    ("max_f1", "decision_threshold: must be {rule:"),
])
def test_an_invalid_decision_threshold_names_the_field(spec: str, message: str) -> None:
    with pytest.raises(ProjectError, match=re.escape(message)):
        parse_declaration(BINARY + f"decision_threshold: {spec}\n", Path("churn/project.yaml"))


def test_only_a_binary_project_declares_a_decision_threshold() -> None:
    with pytest.raises(ProjectError, match=re.escape(
            "decision_threshold: only a binary task has one (this is multiclass)")):
        parse_declaration(MINIMAL + "decision_threshold: {rule: max_f1}\n",
                          Path("flowers/project.yaml"))
    assert "decision_threshold" not in declaration_text(
        parse_declaration(MINIMAL, Path("flowers/project.yaml")))
