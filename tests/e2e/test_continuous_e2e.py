"""Continuous training end to end: spans, drift gate, reproduce and monitor, on ~250-row spans."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT, PipelineConfig
from pipeline.data import fingerprints, ingest
from pipeline.metadata import records
from pipeline.serving import layout
from tests.support.configs import small_config, span_files
from tests.support.run_records import runs_by_node, store_of
from tests.support.taxi_spans import SOURCE, SPAN_ROWS, generated_csv
from tools import span_demo
from tools import taxi as features

pytestmark = [pytest.mark.e2e, pytest.mark.taxi]
SCHEMA = PROJECT_ROOT / "models" / "taxi" / "schema.pbtxt"
INFORMATIONAL = ("git_commit", "packages", "uv_lock_sha256")


def span_config(root: Path, steps: int) -> PipelineConfig:
    """Sample-sized config on the span data dir; min_auc 0: blessing depends on the baseline."""
    return small_config(root, data_dir=root / "data", train_steps=steps, min_auc=0.0)


@pytest.fixture(scope="module")
def two_spans(tmp_path_factory):
    """Span 1 trained (2 steps), then span 2 landed with `ingest` and trained (30 steps)."""
    from pipeline.run.local_runner import run_pipeline

    root = tmp_path_factory.mktemp("spans")
    header, rows = span_demo.generate_rows(SOURCE, SPAN_ROWS, seed=1, days=7)
    span_demo.write_span(root / "data", 1, header, rows)
    first = run_pipeline(span_config(root, steps=2))
    assert ingest.ingest(generated_csv(root / "new.csv", seed=2), root / "data", SCHEMA) == 2
    config = span_config(root, steps=30)
    second = run_pipeline(config)
    return config, first, second


def run_context_of(config: PipelineConfig, run_id: str) -> dict[str, object]:
    """The RecordRunContext artifact's custom properties."""
    artifact = runs_by_node(config, run_id)["RecordRunContext"].outputs["run_context"][0]
    return {name: records.custom_property(artifact, name) for name in artifact.custom_properties}


def test_a_new_span_produces_a_new_model_version_linked_to_it(two_spans) -> None:
    config, first, second = two_spans
    base = layout.model_base_path(config.serving_dir, config.model_name)
    assert layout.list_versions(base) == [1, 2]
    assert (first.summary.pushed_version, second.summary.pushed_version) == ("1", "2")
    context = run_context_of(config, second.summary.run_id)
    assert context["data_span"] == "2" and context["examples_span"] == "2"
    assert context["data_fingerprint"] == fingerprints.data_fingerprint(
        span_files(config.data_dir, 2))
    assert '"tfx": "1.16.0"' in context["packages"]
    assert len(context["uv_lock_sha256"]) == 64 and len(context["code_fingerprint"]) == 64
    validator = runs_by_node(config, second.summary.run_id)["ExampleValidator"]
    baseline = records.custom_property(validator.outputs["anomalies"][0], "drift_baseline")
    first_stats = runs_by_node(config, first.summary.run_id)["StatisticsGen"]
    assert baseline == first_stats.outputs["statistics"][0].uri


def reproduce(config: PipelineConfig, run_id: str, scratch: Path) -> subprocess.CompletedProcess:
    """`python -m pipeline reproduce RUN_ID` as a user would run it."""
    command = [sys.executable, "-m", "pipeline", "reproduce", run_id,
               "--metadata", str(config.metadata_path), "--scratch", str(scratch)]
    return subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=1200)


def test_reproduce_matches_metrics_and_fingerprints(two_spans, tmp_path: Path) -> None:
    config, _, second = two_spans
    done = reproduce(config, second.summary.run_id, tmp_path / "scratch")
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "REPRODUCED" in done.stdout
    for name in ("data_fingerprint", "code_fingerprint"):
        assert f"MATCH    {name}" in done.stdout
    for name in ("metric auc", "CsvExampleGen.examples", "Transform.transformed_examples"):
        assert f"EXACT    {name}:" in done.stdout or f"WITHIN   {name}:" in done.stdout
    differing = [line for line in done.stdout.splitlines() if "DIFFERS" in line]
    assert all(any(name in line for name in INFORMATIONAL) for line in differing)


def test_reproduce_reports_a_mismatch_when_the_data_file_changed(two_spans, tmp_path) -> None:
    config, _, second = two_spans
    data_file = span_files(config.data_dir, 2)[0]
    original = data_file.read_bytes()
    try:
        data_file.write_bytes(original.replace(b",Cash,", b",Credit Card,", 5))
        done = reproduce(config, second.summary.run_id, tmp_path / "scratch")
    finally:
        data_file.write_bytes(original)
    assert done.returncode == 1
    assert "DIFFERS  data_fingerprint" in done.stdout and "MISMATCH" in done.stdout


def monitor(config: PipelineConfig, csv_file: Path, state: Path) -> subprocess.CompletedProcess:
    """`python -m pipeline monitor FILE` against the span pipeline's metadata."""
    command = [sys.executable, "-m", "pipeline", "monitor", str(csv_file),
               "--metadata", str(config.metadata_path), "--state-dir", str(state),
               "--report-dir", str(state / csv_file.stem),
               # Not the project's serving/<model>/: no stable label, so the newest push.
               "--serving-config-dir", str(state / "no_serving_config")]
    return subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)


def test_monitor_passes_clean_requests_and_flags_drifted_ones(two_spans, tmp_path: Path) -> None:
    config, _, _ = two_spans
    state = tmp_path / "monitoring"
    clean = monitor(config, generated_csv(tmp_path / "clean.csv", 21, serving_only=True), state)
    assert clean.returncode == 0, clean.stdout + clean.stderr[-2000:]
    assert "OK: report" in clean.stdout
    drifted_file = generated_csv(tmp_path / "drifted.csv", 22, span_demo.DEMO_DRIFT, serving_only=True)
    drifted = monitor(config, drifted_file, state)
    assert drifted.returncode == 1
    assert f"SKEW   feature '{features.PAYMENT_TYPE_KEY}'" in drifted.stdout
    assert f"DRIFT  feature '{features.PAYMENT_TYPE_KEY}'" in drifted.stdout
    report = (state / "drifted" / "report.md").read_text()
    assert "ALERT" in report and "| payment_type | skew | l_infinity |" in report
    assert (state / "drifted" / f"{features.PAYMENT_TYPE_KEY}.png").stat().st_size > 1000
    assert (state / "latest_window.json").is_file()


def test_a_drifted_span_stops_the_run_before_training(two_spans) -> None:
    from pipeline.run.local_runner import PipelineRunError, run_pipeline

    config, _, _ = two_spans
    drifted = generated_csv(config.data_dir.parent / "drifted.csv", 3, span_demo.DEMO_DRIFT)
    assert ingest.ingest(drifted, config.data_dir, SCHEMA) == 3
    with pytest.raises(PipelineRunError) as stopped:
        run_pipeline(config)
    message = str(stopped.value)
    assert "DataGate failed" in message
    assert f"feature '{features.PAYMENT_TYPE_KEY}': The Linfty distance" in message
    assert "above the threshold 0.2" in message
    run_id = records.latest_run_id(store_of(config), config.pipeline_name)
    states = {node: run.state for node, run in runs_by_node(config, run_id).items()}
    assert states["DataGate"] == "FAILED" and "Trainer" not in states
    base = layout.model_base_path(config.serving_dir, config.model_name)
    assert layout.list_versions(base) == [1, 2]


def test_versions_lists_each_served_version_with_its_span_and_code(two_spans) -> None:
    from pipeline.cli.lineage import format_versions
    from pipeline.metadata import pushes

    config, first, second = two_spans
    records = pushes.version_records(store_of(config), config.pipeline_name)
    assert [(r.version, r.run_id) for r in records[:2]] == [
        ("1", first.summary.run_id), ("2", second.summary.run_id)]
    assert [r.context["data_span"] for r in records[:2]] == ["1", "2"]
    text = format_versions(records)
    assert "tfx 1.16.0" in text and records[1].context["code_fingerprint"] in text
