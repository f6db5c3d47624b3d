"""The whole pipeline on the sample: facts read back from MLMD, the serving dir and the SavedModel."""

from __future__ import annotations

import glob
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from models.common.features import PROBABILITIES_OUTPUT as PROBABILITY_OUTPUT
from models.common.model import RAW_SIGNATURE, SERVING_SIGNATURE
from pipeline.config import PROJECT_ROOT, PipelineConfig
from pipeline.graph.pipeline_graph import create_components
from pipeline.metadata import connection, records
from pipeline.run import run_facts
from pipeline.serving import layout
from tests.support.configs import small_config
from tests.support.faults import write_bad_sample
from tools import taxi as features

pytestmark = pytest.mark.e2e
UPSTREAM_OF_EVALUATOR = (
    "CsvExampleGen", "StatisticsGen", "ImportCuratedSchema", "ExampleValidator", "DataGate",
    "Transform", "Trainer",
)


def store_of(config: PipelineConfig):
    """A read-only handle on the run's MLMD store."""
    return connection.open_metadata(config)


def runs_by_node(config: PipelineConfig, run_id: str) -> dict[str, records.ComponentRun]:
    """The run's executions keyed by component id."""
    return {c.node_id: c for c in records.component_runs(store_of(config), run_id)}


def test_every_component_completed_once(shared_run, shared_config) -> None:
    expected = {component.id for component in create_components(
        shared_config, run_facts.compute(shared_config))}
    executions = records.component_runs(store_of(shared_config), shared_run.summary.run_id)
    assert sorted(c.node_id for c in executions) == sorted(expected)
    assert {c.state for c in executions} == {"COMPLETE"}


def test_blessed_model_is_pushed_as_version_one(shared_run, shared_config) -> None:
    base = layout.model_base_path(shared_config.serving_dir, shared_config.model_name)
    assert layout.list_versions(base) == [1]
    assert (base / "1" / "saved_model.pb").is_file()
    assert shared_run.summary.blessed is True
    assert shared_run.summary.pushed_version == "1"
    assert 0.0 <= shared_run.summary.metrics["auc"] <= 1.0


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


def test_both_signatures_give_the_same_probabilities(shared_run, shared_config) -> None:
    base = layout.model_base_path(shared_config.serving_dir, shared_config.model_name)
    loaded = tf.saved_model.load(str(base / "1"))
    raw_signature = loaded.signatures[RAW_SIGNATURE]
    assert set(raw_signature.structured_input_signature[1]) == set(features.raw_feature_keys())
    examples, columns = complete_rows(
        eval_examples(shared_config, 40), raw_signature.structured_input_signature[1]
    )
    assert len(examples) >= 10
    from_examples = loaded.signatures[SERVING_SIGNATURE](examples=tf.constant(examples))
    from_raw = raw_signature(**columns)
    probabilities = from_examples[PROBABILITY_OUTPUT].numpy()
    assert probabilities.shape == (len(examples), 1)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    np.testing.assert_allclose(probabilities, from_raw[PROBABILITY_OUTPUT].numpy(), atol=1e-6)


@pytest.fixture(scope="session")
def rerun(shared_run, shared_config, tmp_path_factory):
    """A second run, unchanged data and code, on a copy of the shared run's state."""
    from pipeline.run.local_runner import run_pipeline

    root = tmp_path_factory.mktemp("rerun")
    for name in ("pipeline_root", "serving_model"):
        shutil.copytree(shared_config.pipeline_root.parent / name, root / name)
    shutil.copy(shared_config.metadata_path, root / "metadata.sqlite")
    config = small_config(root)
    return config, run_pipeline(config)


def test_rerun_reuses_cached_upstream_outputs(rerun) -> None:
    config, result = rerun
    states = {node: run.state for node, run in runs_by_node(config, result.summary.run_id).items()}
    assert {states[node] for node in UPSTREAM_OF_EVALUATOR} == {"CACHED"}


def test_rerun_pushes_nothing_new(rerun) -> None:
    config, result = rerun
    base = layout.model_base_path(config.serving_dir, config.model_name)
    assert layout.list_versions(base) == [1]
    assert result.summary.pushed_version is None
    assert result.summary.push_decision == "identical model already served as version 1"


def test_unknown_categories_stop_the_cli_at_the_data_gate(tmp_path: Path) -> None:
    data = write_bad_sample(tmp_path / "data", "payment_type", "Bitcoin", every=3)
    config = small_config(tmp_path, data_dir=data)
    command = [
        sys.executable, "-m", "pipeline", "run", "--data", str(data),
        "--pipeline-root", str(config.pipeline_root), "--metadata", str(config.metadata_path),
        "--serving-dir", str(config.serving_dir), "--log-dir", str(config.log_dir),
        "--train-steps", "5",
    ]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1
    assert "DataGate failed" in done.stderr
    assert "feature 'payment_type'" in done.stderr
    assert "FAILED" in done.stdout and "Trainer" not in done.stdout
    assert not config.serving_dir.exists()


def test_text_in_a_numeric_column_stops_the_run_and_keeps_served_versions(
    shared_run, shared_config, tmp_path: Path
) -> None:
    from pipeline.run.local_runner import PipelineRunError, run_pipeline

    shutil.copytree(shared_config.serving_dir, tmp_path / "serving_model")
    served = layout.model_base_path(tmp_path / "serving_model", shared_config.model_name) / "1"
    fingerprint = layout.model_fingerprint(served)
    data = write_bad_sample(tmp_path / "data", "fare", "twelve dollars", every=4)
    config = small_config(tmp_path, data_dir=data)
    with pytest.raises(PipelineRunError, match="feature 'fare'"):
        run_pipeline(config)
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
    verdict = up_to_date.check(store, changed, up_to_date.current_context(changed))
    assert not verdict.unchanged and verdict.reason.endswith(": config.min_auc")
    elsewhere = config.replace(serving_dir=tmp_path / "empty")
    verdict = up_to_date.check(store, elsewhere, up_to_date.current_context(elsewhere))
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
