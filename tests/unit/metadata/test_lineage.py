"""Lineage queries and the runs / lineage / diff commands on a tiny MLMD store built here."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from pipeline.__main__ import main
from pipeline.config import PipelineConfig, store_config
from pipeline.metadata import connection, lineage_graph, provenance, pushes, records
from tests.support.mlmd_fake import FakePipeline, evaluated_and_pushed_runs
from tools import notebooks

FINGERPRINT = "split:single_split,num_files:1,total_bytes:38864,xor_checksum:1,sum_checksum:1"
HYPERPARAMETERS = {"batch_size": 256, "learning_rate": 0.003, "seed": 42}


def _train_and_push(fake: FakePipeline, run_id: str, examples, steps: int, version: str) -> dict:
    """Trainer then Pusher of one run, recorded with the properties TFX writes."""
    config = json.dumps({"code_fingerprint": "abc123", "hyperparameters": HYPERPARAMETERS})
    model = fake.execute(
        run_id, "Trainer", inputs={"examples": examples},
        outputs={"model": fake.artifact("Model", f"/root/Trainer/model/{run_id}")},
        custom_config=config, train_args=json.dumps({"num_steps": steps}),
        eval_args=json.dumps({"num_steps": 5}), run_fn="models.model.run_fn",
    )["model"]
    pushed = fake.artifact("PushedModel", f"/root/Pusher/{run_id}", pushed=1,
                           pushed_version=version, pushed_destination=f"/serving/{version}",
                           push_decision=f"pushed as version {version}", model_fingerprint="f")
    fake.execute(run_id, "ServingPusher", inputs={"model": model},
                 outputs={"pushed_model": pushed})
    return {"model": model}


@pytest.fixture
def fake(tmp_path: Path) -> FakePipeline:
    """Three runs: a fresh one (v1), one with cached data and more steps (v2), a failed one."""
    fake = FakePipeline(tmp_path / "metadata.sqlite")
    examples = fake.execute(
        "run-1", "CsvExampleGen", input_base="/data/sample", input_fingerprint=FINGERPRINT,
        outputs={"examples": fake.artifact("Examples", "/root/CsvExampleGen/examples/1", span=0,
                                           split_names='["train", "eval"]',
                                           input_fingerprint=FINGERPRINT)},
    )["examples"]
    _train_and_push(fake, "run-1", examples, 60, "1")
    fake.execute("run-2", "CsvExampleGen", state="CACHED", outputs={"examples": examples})
    _train_and_push(fake, "run-2", examples, 80, "2")
    fake.execute("run-3", "CsvExampleGen", state="CACHED", outputs={"examples": examples})
    fake.execute("run-3", "Trainer", state="FAILED", inputs={"examples": examples})
    fake.examples = examples
    return fake


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run `python -m pipeline ARGV` in-process; exit code, stdout, stderr."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_runs_report_status_cache_and_push(fake: FakePipeline) -> None:
    runs = records.list_runs(fake.store, "taxi")
    assert [r.run_id for r in runs] == ["run-1", "run-2", "run-3"]
    assert [r.status for r in runs] == ["COMPLETE", "COMPLETE", "FAILED"]
    assert runs[1].cached == ["CsvExampleGen"]
    assert [r.pushed_version for r in runs] == ["1", "2", None]
    assert all(r.seconds >= 0 for r in runs)


def test_provenance_of_a_version_reaches_the_input_data(fake: FakePipeline) -> None:
    prov = provenance.version_provenance(fake.store, "taxi", "1", read_metrics=dict)
    assert prov.run_id == "run-1"
    assert (prov.data.input_base, prov.data.input_fingerprint) == ("/data/sample", FINGERPRINT)
    assert prov.data.span == 0 and prov.data.splits == ["train", "eval"]
    assert prov.training.train_steps == 60
    assert prov.training.hyperparameters == HYPERPARAMETERS
    assert prov.training.model_code_fingerprint == "abc123"  # the Trainer's key, by its own name
    assert prov.training.code_fingerprint is None  # no run context recorded
    assert prov.validation is None and prov.evaluation is None


def test_changes_between_versions_name_only_what_changed(fake: FakePipeline) -> None:
    first, second = (provenance.version_provenance(fake.store, "taxi", v, dict) for v in "12")
    changed = {fact: (old, new) for fact, old, new in provenance.changes(first, second, ("push.",))}
    assert changed["training.train_steps"] == (60, 80)
    assert not any(fact.startswith("data.") for fact in changed)
    assert pushes.previous_version(fake.store, "taxi", "2") == "1"
    assert pushes.previous_version(fake.store, "taxi", "1") is None


def test_forward_lineage_lists_every_model_trained_on_the_examples(fake: FakePipeline) -> None:
    uses = lineage_graph.models_trained_on(fake.store, fake.examples.id)
    assert [(u.run_id, u.pushed_versions) for u in uses] == [("run-1", ["1"]), ("run-2", ["2"])]


def test_runs_command_prints_a_table_and_json(fake: FakePipeline, tmp_path: Path, capsys) -> None:
    store = str(tmp_path / "metadata.sqlite")
    code, out, _ = _cli(capsys, "runs", "--metadata", store)
    assert code == 0
    assert "FAILED (Trainer)" in out.splitlines()[3]
    code, out, _ = _cli(capsys, "runs", "--metadata", store, "--json")
    assert [r["cached"] for r in json.loads(out)] == [[], ["CsvExampleGen"], ["CsvExampleGen"]]


def test_lineage_command_reports_what_changed(fake: FakePipeline, tmp_path: Path, capsys) -> None:
    store = str(tmp_path / "metadata.sqlite")
    code, out, _ = _cli(capsys, "lineage", "--metadata", store, "--latest")
    assert code == 0
    assert out.startswith("Model serving as version 2 of pipeline 'taxi'")
    assert "/data/sample (span 0, version -)" in out
    assert "training.train_steps" in out and "60 -> 80" in out
    assert "unchanged: input data, project code, declaration" in out
    code, out, _ = _cli(capsys, "lineage", "--metadata", store, "--version", "1", "--json")
    report = json.loads(out)
    assert report["provenance"]["data"]["input_fingerprint"] == FINGERPRINT
    assert report["previous_version"] is None and report["changes"] == []


def test_diff_command_marks_differences(fake: FakePipeline, tmp_path: Path, capsys) -> None:
    store = str(tmp_path / "metadata.sqlite")
    code, out, _ = _cli(capsys, "diff", "run-1", "run-2", "--metadata", store)
    lines = {line[1:].split()[0]: line for line in out.splitlines()[1:]}
    assert code == 0
    assert lines["training.train_steps"].startswith("*")
    assert not lines["data.input_fingerprint"].startswith("*")
    code, out, _ = _cli(capsys, "diff", "run-1", "latest", "--metadata", store, "--json")
    assert "state.Trainer" in json.loads(out)["different"]


def test_runs_name_the_projects_metrics_from_the_recorded_summary(tmp_path: Path, capsys) -> None:
    store = str(tmp_path / "metadata.sqlite")
    evaluated_and_pushed_runs(Path(store), tmp_path)
    code, out, _ = _cli(capsys, "runs", "--metadata", store, "--json")
    runs = json.loads(out)
    assert code == 0
    assert runs[1]["metrics"] == {"auc": 0.92, "accuracy": 0.8}
    assert (runs[1]["blessed"], runs[1]["blessing_reason"]) == (True, "all thresholds passed")
    code, out, _ = _cli(capsys, "runs", "--metadata", store)
    header, _, second = out.splitlines()
    assert header.split()[-8:] == ["AUC", "LINEAR", "AUC", "LIVE", "AUC", "PUSHED", "DRIFT", "REASON"]
    assert second.split()[-6:] == ["0.9200", "-", "-", "2", "-", "-"]  # no Baseline, feedback, drift, reason


def test_runs_without_a_recorded_summary_have_no_metrics(fake: FakePipeline, tmp_path: Path,
                                                         capsys) -> None:
    code, out, _ = _cli(capsys, "runs", "--metadata", str(tmp_path / "metadata.sqlite"), "--json")
    assert [(r["metrics"], r["blessed"]) for r in json.loads(out)] == [({}, None)] * 3


def test_project_metrics_lead_with_the_tasks_short_names() -> None:
    from pipeline.config.project import Task
    from pipeline.metadata.summary import project_metrics

    project = store_config({}).declaration
    computed = {"example_count": 10.0, "binary_accuracy": 0.8, "auc": 0.9, "auc_diff": 0.01,
                "binary_accuracy_diff": -0.02}
    assert list(project_metrics(project, computed).items()) == [
        ("auc", 0.9), ("auc_diff", 0.01), ("accuracy", 0.8), ("accuracy_diff", -0.02),
        ("example_count", 10.0)]
    multiclass = dataclasses.replace(project, task=Task.MULTICLASS)
    assert list(project_metrics(multiclass, {"accuracy": 0.5, "sparse_categorical_accuracy": 0.7})) \
        == ["accuracy", "tfma:accuracy"]


def test_lineage_and_diff_name_metrics_by_the_project(tmp_path: Path, capsys) -> None:
    store = str(tmp_path / "metadata.sqlite")
    evaluated_and_pushed_runs(Path(store), tmp_path)
    code, out, _ = _cli(capsys, "lineage", "--metadata", store)
    lines = out.splitlines()
    metrics = lines.index(next(line for line in lines if line.strip().startswith("metrics")))
    assert lines[metrics].split()[1:] == ["auc", "0.9200"]
    assert lines[metrics + 1].split() == ["accuracy", "0.8000"]
    assert "evaluation.metrics.auc" in out and "0.9100 -> 0.9200" in out
    code, out, _ = _cli(capsys, "diff", "run-1", "run-2", "--metadata", store)
    keys = [line[1:].split()[0] for line in out.splitlines()[1:]]
    assert keys.index("evaluation.metrics.auc") + 1 == keys.index("evaluation.metrics.accuracy")


@pytest.mark.parametrize(("argv", "message"), [
    (["lineage", "--version", "9"], "no pushed version '9' of pipeline 'taxi' (pushed: 1, 2)"),
    (["diff", "run-1", "run-9"], "no run 'run-9'"),
    (["runs", "--pipeline-name", "other"], "no runs of pipeline 'other'"),
])
def test_unknown_things_are_named_with_exit_1(
    fake: FakePipeline, tmp_path: Path, capsys, argv: list[str], message: str
) -> None:
    code, out, err = _cli(capsys, *argv, "--metadata", str(tmp_path / "metadata.sqlite"))
    assert (code, out) == (1, "")
    assert message in err


def test_missing_store_is_an_error_and_is_not_created(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nothing" / "metadata.sqlite"
    code, _, err = _cli(capsys, "runs", "--metadata", str(missing))
    assert code == 1
    assert f"no metadata store at {missing}" in err
    assert not missing.exists() and not missing.parent.exists()


def test_empty_store_has_no_runs_and_no_pushes(tmp_path: Path, capsys) -> None:
    path = tmp_path / "empty.sqlite"
    connection.open_metadata(store_config({}, {"metadata_path": path}), read_only=False)
    assert _cli(capsys, "runs", "--metadata", str(path))[2].startswith("error: no runs of")
    code, _, err = _cli(capsys, "lineage", "--metadata", str(path))
    assert (code, err.strip()) == (1, "error: no model of pipeline 'taxi' was ever pushed")


def test_a_file_that_is_not_a_store_is_an_error(tmp_path: Path, capsys) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_text("not a database")
    code, _, err = _cli(capsys, "runs", "--metadata", str(path))
    assert code == 1 and f"{path} is not a readable ML Metadata store" in err


def test_store_config_flags_win_over_env_over_config() -> None:
    default = PipelineConfig().metadata_path
    assert (store_config({}).metadata_path, store_config({}).pipeline_name) == (default, "taxi")
    env = {"PIPELINE_METADATA_PATH": "/tmp/m.sqlite", "PIPELINE_PIPELINE_NAME": "other",
           "PIPELINE_DATA_DIR": "/no/such/dir"}
    from_env = store_config(env)
    assert (from_env.metadata_path, from_env.pipeline_name) == (Path("/tmp/m.sqlite"), "other")
    flags = store_config(env, {"metadata_path": Path("/x.sqlite"), "pipeline_name": "p",
                               "data_dir": "/ignored"})
    assert (flags.metadata_path, flags.pipeline_name) == (Path("/x.sqlite"), "p")


def test_committed_notebooks_have_no_outputs() -> None:
    import nbformat

    paths = notebooks.notebook_paths()
    assert {p.stem for p in paths} >= {"lineage", "data_validation", "model_analysis"}
    dirty = [p.name for p in paths if notebooks.has_outputs(nbformat.read(p, as_version=4))]
    assert dirty == [], f"run `make strip-notebooks`: {dirty} have outputs"


def test_strip_removes_outputs_and_execution_counts(tmp_path: Path) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    path = tmp_path / "n.ipynb"
    cell = new_code_cell("1 + 1", execution_count=3,
                         outputs=[new_output("execute_result", {"text/plain": "2"})])
    nbformat.write(new_notebook(cells=[cell]), path)
    assert notebooks.strip(path) is True
    assert not notebooks.has_outputs(nbformat.read(path, as_version=4))
    assert notebooks.strip(path) is False
