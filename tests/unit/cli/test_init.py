"""`python -m pipeline init`: a reviewable summary and a project that parses back, or one `error:`
line, a non-zero exit and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.__main__ import main
from pipeline.cli.init import _data_reference
from pipeline.config import PROJECT_ROOT
from pipeline.config.project import (
    Task,
    ThresholdDeclaration,
    ThresholdRule,
    load_project,
    parse_declaration,
)
from pipeline.errors import EXIT_INVALID
from tests.support.csv_columns import multiclass_columns, regression_columns, write_csv


def init(models: Path, *args: str) -> int:
    return main(["init", *args, "--models-dir", str(models)])


def refused(capsys: pytest.CaptureFixture[str], models: Path, *args: str) -> str:
    """Run a refused init: exit code 2, one `error:` line, nothing under models/; the line."""
    before = sorted(models.rglob("*")) if models.exists() else []
    contents = {p: p.read_bytes() for p in before if p.is_file()}
    assert init(models, *args) == EXIT_INVALID
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    after = sorted(models.rglob("*")) if models.exists() else []
    assert after == before and {p: p.read_bytes() for p in contents} == contents
    return err[0]


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(tmp_path_factory.mktemp("iris") / "iris.csv", multiclass_columns())


def test_init_writes_a_project_that_parses_back(tmp_path: Path, iris: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    import tensorflow_data_validation as tfdv

    models = tmp_path / "models"
    assert init(models, "iris", "--data", str(iris), "--label", "species") == 0
    out = capsys.readouterr().out
    assert "project iris: 300 rows in 1 file(s)" in out
    assert "label: species -> multiclass (3 string classes); classes 'setosa'" in out
    assert "  color" in out and "vocabulary" in out
    assert "blessing: accuracy no worse than a linear model's on the same split by more than 0.02" in out
    assert "live bounds (feedback): accuracy >= " in out
    assert out.strip().endswith("next: python -m pipeline run --project iris")
    folder = models / "iris"
    assert sorted(p.name for p in models.iterdir()) == ["iris"]
    project = parse_declaration((folder / "project.yaml").read_text(), folder / "project.yaml")
    assert project == load_project("iris", models)
    assert project.task is Task.MULTICLASS and project.label == "species"
    assert [b.metric for b in project.live_bounds] == ["accuracy"]  # written as monitoring.live
    copied = tmp_path / "data" / "iris"
    # Relative to the models folder's parent, the root a run resolves them against.
    assert project.data == "data/iris" and project.schema == "models/iris/schema.pbtxt"
    assert (copied / iris.name).read_bytes() == iris.read_bytes()
    assert f"copied {iris} to {copied}/" in out
    assert project.classes == ("setosa", "versicolor", "virginica")
    assert project.no_worse_than_serving == "accuracy"
    assert project.baseline_margin == 0.02 and project.thresholds == ()
    schema = tfdv.load_schema_text(str(folder / "schema.pbtxt"))
    label = next(f for f in schema.feature if f.name == "species")
    assert list(label.not_in_environment) == ["SERVING"]
    assert oct(folder.stat().st_mode & 0o777) != oct(0o700)


def test_existing_project_needs_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_csv(tmp_path / "houses.csv", regression_columns())
    models = tmp_path / "models"
    assert init(models, "houses", "--data", str(data), "--label", "price") == 0
    (models / "houses" / "preprocessing.py").write_text("# the project's own code\n")
    capsys.readouterr()
    line = refused(capsys, models, "houses", "--data", str(data), "--label", "floor")
    assert "project 'houses' already exists" in line and "--force" in line
    assert init(models, "houses", "--data", str(data), "--label", "floor", "--task", "regression",
                "--force") == 0
    assert load_project("houses", models).label == "floor"
    assert (models / "houses" / "preprocessing.py").is_file()  # only the two files are replaced
    assert sorted(p.name for p in models.iterdir()) == ["houses"]


def test_data_inside_the_repository_is_relative() -> None:
    assert _data_reference(PROJECT_ROOT / "data" / "taxi") == "data/taxi"
    assert _data_reference(Path("/elsewhere/data.csv")) == "/elsewhere/data.csv"
    # A models folder elsewhere in the repository: relative to its parent, as `run` reads it.
    inside = PROJECT_ROOT / "state" / "bench" / "models"
    assert _data_reference(inside.parent / "data" / "x", inside.parent) == "data/x"


@pytest.mark.parametrize("name", ["my-project", "1st", "class", "_hidden"])
def test_invalid_name(name: str, tmp_path: Path, iris: Path, capsys) -> None:
    line = refused(capsys, tmp_path / "models", name, "--data", str(iris), "--label", "species")
    assert f"invalid project name {name!r}" in line


def test_name_of_a_folder_that_is_not_a_project(tmp_path: Path, iris: Path, capsys) -> None:
    (tmp_path / "models" / "common").mkdir(parents=True)
    line = refused(capsys, tmp_path / "models", "common", "--data", str(iris), "--label", "species",
                   "--force")
    assert "is not a project" in line


def test_missing_data(tmp_path: Path, capsys) -> None:
    for missing in (tmp_path / "absent.csv", tmp_path / "absent"):
        line = refused(capsys, tmp_path / "models", "p", "--data", str(missing), "--label", "y")
        assert f"{missing}: no such file or folder" in line


def test_empty_folder(tmp_path: Path, capsys) -> None:
    (tmp_path / "data").mkdir()
    line = refused(capsys, tmp_path / "models", "p", "--data", str(tmp_path / "data"), "--label", "y")
    assert "no input files" in line


def test_too_few_rows_or_a_rare_class_writes_nothing(tmp_path: Path, capsys) -> None:
    small = write_csv(tmp_path / "in" / "small.csv", {"x": [1.5, 2.5] * 24, "y": ["a", "b"] * 24})
    line = refused(capsys, tmp_path / "models", "p", "--data", str(small), "--label", "y")
    assert line == f"error: {small}: 48 rows; at least 50 are needed for a train and an eval split"
    rare = write_csv(tmp_path / "in" / "rare.csv", {"x": [float(i) for i in range(60)],
                                                    "y": ["a"] * 28 + ["b"] * 28 + ["c"] * 4})
    line = refused(capsys, tmp_path / "models", "p", "--data", str(rare), "--label", "y")
    assert line == (f"error: {rare}: label column 'y': class 'c' 4 time(s); each class needs at "
                    "least 5 rows (drop or merge rare classes)")
    assert not (tmp_path / "data").exists()  # no copy of the refused file either


def test_empty_and_header_only_files(tmp_path: Path, capsys) -> None:
    empty, header = tmp_path / "empty.csv", tmp_path / "header.csv"
    empty.write_bytes(b"")
    header.write_text("x,y\n")
    line = refused(capsys, tmp_path / "models", "p", "--data", str(empty), "--label", "y")
    assert f"{empty}: file is empty" in line
    line = refused(capsys, tmp_path / "models", "p", "--data", str(header), "--label", "y")
    assert f"{header}: has a header but no data rows" in line


def test_non_utf8_file(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data.csv"
    data.write_bytes(b"x,y\n1,a\n2,caf\xe9\n")
    line = refused(capsys, tmp_path / "models", "p", "--data", str(data), "--label", "y")
    assert f"{data}:3: not valid UTF-8" in line and "at byte 6 of the line" in line


def test_unknown_label_names_the_columns(tmp_path: Path, iris: Path, capsys) -> None:
    line = refused(capsys, tmp_path / "models", "p", "--data", str(iris), "--label", "kind")
    assert "no label column 'kind'" in line and "length, width, color, species" in line


def test_label_empty_or_single_valued(tmp_path: Path, capsys) -> None:
    data = write_csv(tmp_path / "d.csv", {"x": [1.5, 2.5, 3.5], "e": [None] * 3, "one": ["a"] * 3})
    line = refused(capsys, tmp_path / "models", "p", "--data", str(data), "--label", "e")
    assert "label column 'e' is empty in every row" in line
    line = refused(capsys, tmp_path / "models", "p", "--data", str(data), "--label", "one")
    assert "label column 'one' has a single value ('a')" in line


def test_positive_not_a_label_value(tmp_path: Path, capsys) -> None:
    data = write_csv(tmp_path / "d.csv", {"x": [1.5, 2.5, 3.5, 4.5], "y": ["a", "b", "a", "b"]})
    line = refused(capsys, tmp_path / "models", "p", "--data", str(data), "--label", "y",
                   "--positive", "c")
    assert "--positive 'c' is not a value of label column 'y' (values: 'a', 'b')" in line


def test_task_that_does_not_fit_the_label(tmp_path: Path, iris: Path, capsys) -> None:
    line = refused(capsys, tmp_path / "models", "p", "--data", str(iris), "--label", "species",
                   "--task", "binary")
    assert "--task binary: label column 'species' has 3 distinct values" in line
    line = refused(capsys, tmp_path / "models", "p", "--data", str(iris), "--label", "species",
                   "--task", "regression")
    assert "--task regression: label column 'species' is not numeric" in line


def test_force_leaves_only_the_profiled_file_in_the_data_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run reads every file of the folder: after `init --force` with another file, that is the
    file profiled alone, the earlier copy (and anything added beside it) moved aside whole."""
    from pipeline.data.input_files import data_files

    models = tmp_path / "models"
    first = write_csv(tmp_path / "first.csv", regression_columns())
    assert init(models, "houses", "--data", str(first), "--label", "price") == 0
    folder = tmp_path / "data" / "houses"
    (folder / "added.csv").write_bytes(first.read_bytes())
    second = write_csv(tmp_path / "second.csv", regression_columns(seed=3))
    capsys.readouterr()
    assert init(models, "houses", "--data", str(second), "--label", "price", "--force") == 0
    out = capsys.readouterr().out
    assert data_files(folder) == [folder / "second.csv"]
    [aside] = [p for p in (tmp_path / "data").iterdir() if p.name.startswith("houses.replaced-")]
    assert sorted(p.name for p in aside.iterdir()) == ["added.csv", "first.csv"]
    assert f"moved the earlier {folder}/ to {aside}/" in out
    assert not [p for p in (tmp_path / "data").iterdir() if p.name.startswith(".")]
    assert load_project("houses", models).data == "data/houses"  # relative to models/' parent
@pytest.mark.slow
def test_init_console_has_no_tensorflow_lines_and_relative_paths(tmp_path: Path) -> None:
    """A fresh process, as a user runs it: TF's start-up lines go to the log, and paths under the
    working directory are printed as the README writes them."""
    import os
    import subprocess
    import sys

    write_csv(tmp_path / "in" / "d.csv", multiclass_columns())
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "PIPELINE_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run([sys.executable, "-m", "pipeline", "init", "demo", "--data", "in",
                           "--label", "species", "--models-dir", "models"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith("project demo: 300 rows in 1 file(s) of in\n"), done.stdout
    assert "wrote models/demo/project.yaml and models/demo/schema.pbtxt" in done.stdout


def test_a_binary_project_gets_a_max_f1_decision_threshold(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    columns = multiclass_columns()
    columns["species"] = ["yes" if s == "virginica" else "no" for s in columns["species"]]
    data = write_csv(tmp_path / "flowers.csv", columns)
    models = tmp_path / "models"
    assert init(models, "flowers", "--data", str(data), "--label", "species") == 0
    out = capsys.readouterr().out
    assert "decision threshold: max_f1 on the training split" in out
    project = load_project("flowers", models)
    assert project.task is Task.BINARY
    assert project.decision_threshold == ThresholdDeclaration(ThresholdRule.MAX_F1, None)
    assert "decision_threshold: {rule: max_f1}" in (models / "flowers" / "project.yaml").read_text()
