"""The whole pipeline on small data of each bundled project: facts read back from MLMD, the serving
dir and the SavedModel. The generic checks run once per bundled project (taxi, penguins), on one
shared run per project per session; the up-to-date checks use taxi's."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from pipeline import vocabulary
from pipeline.config import PROJECT_ROOT, PipelineConfig
from pipeline.config.project import Task, Treatment
from pipeline.graph.pipeline_graph import create_components
from pipeline.metadata import records
from pipeline.run import manifest
from pipeline.serving import layout
from pipeline.vocabulary import RAW_SIGNATURE, SERVING_SIGNATURE
from tests.support.configs import BUNDLED_PROJECTS, current_context, small_config
from tests.support.faults import data_lines, first_feature, set_column, write_bad_copy, write_lines
from tests.support.mlflow_store import empty_store
from tests.support.run_records import runs_by_node, store_of

pytestmark = pytest.mark.e2e
UPSTREAM_OF_EVALUATOR = (
    "CsvExampleGen", "StatisticsGen", "ImportCuratedSchema", "ExampleValidator", "DataGate",
    "Transform", "Trainer",
)


@pytest.fixture(params=BUNDLED_PROJECTS)
def example(request, bundled_runs):
    """(config, result) of a bundled project's shared run."""
    return bundled_runs.config(request.param), bundled_runs.run(request.param)


@pytest.fixture(params=BUNDLED_PROJECTS)
def example_rerun(request, bundled_runs):
    """(config, result) of a second, unchanged run on a copy of the project's shared run state."""
    return bundled_runs.rerun(request.param)


@pytest.fixture(scope="session")
def rerun(bundled_runs):
    """Taxi's unchanged rerun, for the up-to-date checks."""
    return bundled_runs.rerun("taxi")


def test_every_component_completed_once(example) -> None:
    config, result = example
    expected = {component.id for component in create_components(config, manifest.compute(config))}
    executions = records.component_runs(store_of(config), result.summary.run_id)
    assert sorted(c.node_id for c in executions) == sorted(expected)
    assert {c.state for c in executions} == {"COMPLETE"}


def test_beam_components_ran_without_building_a_tfx_package(example) -> None:
    _, result = example
    assert result.log_path is not None
    log = result.log_path.read_text()
    assert log.count("Executing pipeline using the default runner: DirectRunner") >= 4
    assert "Creating temporary sdist" not in log and "--extra_package" not in log


def test_blessed_model_is_pushed_as_version_one(example) -> None:
    config, result = example
    base = layout.model_base_path(config.serving_dir, config.model_name)
    assert layout.list_versions(base) == [1]
    assert (base / "1" / "saved_model.pb").is_file()
    assert result.summary.blessed is True
    assert result.summary.pushed_version == "1"
    metrics = config.declaration.named_metrics(result.summary.metrics)
    assert set(metrics) == {m.name for m in config.declaration.metrics}
    assert 0.0 <= metrics[config.declaration.primary_metric.name] <= 1.0


def eval_examples(config: PipelineConfig, count: int) -> list[bytes]:
    """Serialized tf.Examples from ExampleGen's eval split: what a TF Serving client sends."""
    pattern = str(config.pipeline_root / "CsvExampleGen" / "examples" / "*" / "Split-eval" / "*")
    records = tf.data.TFRecordDataset(glob.glob(pattern), compression_type="GZIP")
    return [record.numpy() for record in records.take(count)]


def complete_rows(serialized: list[bytes], raw_specs: dict) -> tuple[list[bytes], dict]:
    """Rows that have every raw feature, as serialized examples and as named [batch] columns."""
    spec = {key: tf.io.VarLenFeature(tensor_spec.dtype) for key, tensor_spec in raw_specs.items()}
    parsed = tf.io.parse_example(serialized, spec)
    keep = np.ones(len(serialized), bool)
    for sparse in parsed.values():
        present = np.zeros(len(serialized), bool)
        present[sparse.indices[:, 0].numpy()] = True
        keep &= present
    examples = [record for record, kept in zip(serialized, keep, strict=True) if kept]
    parsed = tf.io.parse_example(examples, spec)
    return examples, {key: tf.reshape(tf.sparse.to_dense(v), [-1]) for key, v in parsed.items()}


def test_both_signatures_agree_and_give_the_task_outputs(example) -> None:
    config, _ = example
    project = config.declaration
    base = layout.model_base_path(config.serving_dir, config.model_name)
    loaded = tf.saved_model.load(str(base / "1"))
    raw_signature = loaded.signatures[RAW_SIGNATURE]
    assert set(raw_signature.structured_input_signature[1]) == set(project.feature_names)
    examples, columns = complete_rows(
        eval_examples(config, 40), raw_signature.structured_input_signature[1]
    )
    assert len(examples) >= 10
    from_examples = loaded.signatures[SERVING_SIGNATURE](examples=tf.constant(examples))
    from_raw = raw_signature(**columns)
    assert set(from_examples) == set(from_raw) == set(vocabulary.task_outputs(project.task))
    probabilities = from_examples[vocabulary.PROBABILITIES_OUTPUT].numpy()
    width = len(project.classes) if project.task is Task.MULTICLASS else 1
    assert probabilities.shape == (len(examples), width)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    np.testing.assert_allclose(probabilities, from_raw[vocabulary.PROBABILITIES_OUTPUT].numpy(), atol=1e-6)
    if project.task is Task.MULTICLASS:
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
        classes = [c.decode() for c in from_examples[vocabulary.CLASSES_OUTPUT].numpy()]
        assert classes == [project.classes[i] for i in probabilities.argmax(axis=1)]
        assert classes == [c.decode() for c in from_raw[vocabulary.CLASSES_OUTPUT].numpy()]


def test_rerun_reuses_cached_upstream_outputs(example_rerun) -> None:
    config, result = example_rerun
    states = {node: run.state for node, run in runs_by_node(config, result.summary.run_id).items()}
    assert {states[node] for node in UPSTREAM_OF_EVALUATOR} == {"CACHED"}


def test_rerun_pushes_nothing_new(example_rerun) -> None:
    config, result = example_rerun
    base = layout.model_base_path(config.serving_dir, config.model_name)
    assert layout.list_versions(base) == [1]
    assert result.summary.pushed_version is None
    assert result.summary.push_decision == "identical model already served as version 1"


def test_unknown_categories_stop_the_cli_at_the_data_gate(tmp_path: Path) -> None:
    config = small_config(tmp_path)
    column = first_feature(config, Treatment.VOCABULARY)
    data = write_bad_copy(tmp_path / "data", config, column, "Bitcoin", every=3)
    command = [
        sys.executable, "-m", "pipeline", "run", "--data", str(data),
        "--pipeline-root", str(config.pipeline_root), "--metadata", str(config.metadata_path),
        "--serving-dir", str(config.serving_dir), "--log-dir", str(config.log_dir),
        "--train-steps", "5", "--wait-for-mirror",  # MLflow is read right after the run
    ]
    mirror = empty_store(tmp_path / "mlflow")  # where the run mirrors itself (beside its metadata)
    environ = {k: v for k, v in os.environ.items() if k != "PIPELINE_TRACKING_URI"}  # the default store
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
                          env=environ)
    assert done.returncode == 1
    assert "DataGate failed" in done.stderr
    assert f"feature '{column}'" in done.stderr
    assert "FAILED" in done.stdout and "Trainer" not in done.stdout
    assert layout.list_versions(layout.model_base_path(config.serving_dir, config.model_name)) == []
    from mlflow import MlflowClient

    [run] = MlflowClient(mirror.tracking_uri).search_runs(
        [MlflowClient(mirror.tracking_uri).get_experiment_by_name(config.pipeline_name).experiment_id])
    assert run.info.status == "FAILED"
    assert run.data.tags["status_reason"].startswith("stopped at the data gate: ")
    assert f"feature '{column}'" in run.data.tags["status_reason"]


def test_bad_data_stops_the_run_at_the_data_gate_and_keeps_served_versions(
    example, tmp_path: Path
) -> None:
    """Text in a numeric column and an unknown category in another: both named, nothing pushed."""
    from pipeline.run.local_runner import PipelineRunError, run_pipeline

    shared_config, _ = example
    shutil.copytree(shared_config.serving_dir, tmp_path / "serving_model")
    # With the store that records version 1's push: the baseline a new model is compared with.
    shutil.copy(shared_config.metadata_path, tmp_path / "metadata.sqlite")
    served = layout.model_base_path(tmp_path / "serving_model", shared_config.model_name) / "1"
    fingerprint = layout.model_fingerprint(served)
    number = first_feature(shared_config, Treatment.NUMERIC)
    category = first_feature(shared_config, Treatment.VOCABULARY)
    lines = set_column(data_lines(shared_config), number, "twelve dollars", every=4)
    data = write_lines(tmp_path / "data", set_column(lines, category, "Bitcoin", every=3))
    config = small_config(tmp_path, shared_config.project, data_dir=data)
    with pytest.raises(PipelineRunError, match="DataGate") as failure:
        run_pipeline(config)
    assert f"feature '{number}'" in str(failure.value)
    assert f"feature '{category}'" in str(failure.value)
    run_id = records.latest_run_id(store_of(config), config.pipeline_name)
    states = {node: run.state for node, run in runs_by_node(config, run_id).items()}
    assert states["DataGate"] == "FAILED"
    assert "Transform" not in states and "Trainer" not in states
    assert layout.list_versions(served.parent) == [1]
    assert layout.model_fingerprint(served) == fingerprint


def test_unchanged_rerun_is_answered_from_mlmd_without_running(rerun) -> None:
    from pipeline.run.local_runner import run_pipeline

    config, result = rerun
    runs_before = len(records.run_contexts(store_of(config), config.pipeline_name))
    reused = run_pipeline(config, reuse_unchanged=True)
    assert reused.reused is True
    assert reused.summary.run_id == result.summary.run_id
    assert reused.summary.metrics == pytest.approx(result.summary.metrics)
    assert reused.summary.blessed is result.summary.blessed
    assert len(records.run_contexts(store_of(config), config.pipeline_name)) == runs_before


def test_a_changed_input_or_a_lost_output_means_a_real_rerun(rerun, tmp_path: Path) -> None:
    from pipeline.run import up_to_date

    config, _ = rerun
    store = store_of(config)
    changed = config.replace(min_auc=config.min_auc / 2)
    verdict = up_to_date.check(store, changed, current_context(changed))
    assert not verdict.unchanged and verdict.reason.endswith(": config.min_auc")
    elsewhere = config.replace(serving_dir=tmp_path / "empty")
    verdict = up_to_date.check(store, elsewhere, current_context(elsewhere))
    assert not verdict.unchanged and "config.serving_dir" in verdict.reason
    assert up_to_date.unserved_model(
        runs_by_node(config, rerun[1].summary.run_id)["ServingPusher"], tmp_path / "empty"
    ).startswith("served model ")


def test_cli_run_reports_up_to_date_with_the_recorded_summary(rerun) -> None:
    config, result = rerun
    command = [
        sys.executable, "-m", "pipeline", "run", "--data", str(config.data_dir),
        "--pipeline-root", str(config.pipeline_root), "--metadata", str(config.metadata_path),
        "--serving-dir", str(config.serving_dir), "--log-dir", str(config.log_dir),
        "--train-steps", str(config.train_steps), "--eval-steps", str(config.eval_steps),
        "--min-auc", str(config.min_auc),
    ]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"up to date  run {result.summary.run_id}" in done.stdout
    assert "CsvExampleGen" not in done.stdout
    assert f"auc {result.summary.metrics['auc']:.4f}" in done.stdout
