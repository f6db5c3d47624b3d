"""Lineage, its commands and the notebooks on the session's shared pipeline run."""

from __future__ import annotations

import json
import os
import re

import pytest

from pipeline.__main__ import main
from pipeline.config import PipelineConfig
from pipeline.data.fingerprints import user_code_fingerprint
from pipeline.metadata import connection, lineage_graph, provenance, pushes
from tests.support.configs import SAMPLE_DATA
from tools import notebooks

pytestmark = pytest.mark.e2e


def _store(config: PipelineConfig) -> connection.Store:
    return connection.open_metadata(config)


def _cli(capsys, config: PipelineConfig, *argv: str) -> tuple[int, str]:
    """`python -m pipeline ARGV` on the shared store, in-process; exit code and stdout."""
    code = main([*argv, "--metadata", str(config.metadata_path),
                 "--pipeline-name", config.pipeline_name])
    return code, capsys.readouterr().out


def test_provenance_reaches_the_csv_input_and_its_fingerprint(shared_run, shared_config) -> None:
    prov = provenance.version_provenance(_store(shared_config), shared_config.pipeline_name)
    csv_bytes = sum(p.stat().st_size for p in SAMPLE_DATA.glob("*.csv"))
    assert prov.push.version == shared_run.summary.pushed_version
    assert prov.run_id == shared_run.summary.run_id
    assert prov.data.input_base == str(SAMPLE_DATA)
    assert "num_files:1," in prov.data.input_fingerprint
    assert f"total_bytes:{csv_bytes}," in prov.data.input_fingerprint
    assert prov.validation.schema_source == "ImportCuratedSchema"
    assert prov.validation.anomalies_free == {"eval": True, "train": True}


def test_provenance_records_code_config_and_metrics(shared_run, shared_config) -> None:
    prov = provenance.version_provenance(_store(shared_config), shared_config.pipeline_name)
    assert prov.training.code_fingerprint == user_code_fingerprint()
    assert prov.training.train_steps == shared_config.train_steps
    assert prov.training.hyperparameters == shared_config.hyperparameters
    assert prov.evaluation.metrics["auc"] == shared_run.summary.metrics["auc"]
    assert prov.evaluation.blessed is True
    assert prov.evaluation.baseline_model_uri is None


def test_forward_lineage_finds_the_pushed_model(shared_run, shared_config) -> None:
    store = _store(shared_config)
    graph = lineage_graph.version_graph(store, pushes.pushed_model(store, shared_config.pipeline_name))
    uses = lineage_graph.models_trained_on(store, graph.output("examples").id)
    assert [(u.model_uri, u.pushed_versions) for u in uses] == [
        (graph.output("model").uri, [shared_run.summary.pushed_version])]


def test_lineage_command_text_and_json(shared_run, shared_config, capsys) -> None:
    code, text = _cli(capsys, shared_config, "lineage", "--latest")
    assert code == 0
    assert text.startswith(f"Model serving as version {shared_run.summary.pushed_version} ")
    assert f"input           {SAMPLE_DATA} (span 0" in text
    assert "Changes: none to report, this is the first pushed version" in text
    code, out = _cli(capsys, shared_config, "lineage", "--json")
    report = json.loads(out)
    assert report["provenance"]["data"]["input_base"] == str(SAMPLE_DATA)
    assert report["provenance"]["training"]["code_fingerprint"] == user_code_fingerprint()


def test_runs_and_diff_commands(shared_run, shared_config, capsys) -> None:
    code, out = _cli(capsys, shared_config, "runs", "--json")
    [run] = json.loads(out)
    assert (code, run["run_id"], run["status"]) == (0, shared_run.summary.run_id, "COMPLETE")
    assert run["cached"] == [] and run["pushed_version"] == shared_run.summary.pushed_version
    code, out = _cli(capsys, shared_config, "diff", run["run_id"], "latest")
    assert code == 0
    assert not [line for line in out.splitlines() if line.startswith("*")]


@pytest.mark.parametrize("name", ["lineage", "data_validation", "model_analysis"])
def test_notebook_runs_and_draws(shared_run, shared_config, name: str) -> None:
    environ = {**os.environ, "PIPELINE_METADATA_PATH": str(shared_config.metadata_path),
               "PIPELINE_PIPELINE_NAME": shared_config.pipeline_name}
    notebook = notebooks.execute(notebooks.NOTEBOOK_DIR / f"{name}.ipynb", environ)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)


def test_lineage_slices_and_the_reference_models(shared_run, shared_config, capsys) -> None:
    """`lineage --slices`: one row per value of each declared slice, rows adding up to the eval
    split; the run's reference models (Baseline component) beside the model in lineage and runs."""
    project = shared_config.declaration
    code, text = _cli(capsys, shared_config, "lineage", "--slices")
    assert code == 0
    table = text[text.index("\nSlices\n"):].splitlines()[2:]
    assert table[0].split()[:3] == ["SLICE", "ROWS", project.metrics[0].name.upper()]
    assert re.search(r"^  reference\s+linear auc 0\.\d{4} .*; majority auc 0\.5000 ", text, re.M)
    code, out = _cli(capsys, shared_config, "lineage", "--slices", "--json")
    report = json.loads(out)
    assert len(report["slices"]) == len(table) - 1 and set(report["baseline"]) == {"linear", "majority"}
    for feature in project.slices:
        counts = [metrics["example_count"] for name, metrics in report["slices"].items()
                  if name.startswith(f"{feature}/")]
        assert sum(counts) == shared_run.summary.metrics["example_count"]
    code, out = _cli(capsys, shared_config, "runs", "--json")
    [run] = json.loads(out)
    assert set(run["baseline"]) == set(shared_run.summary.baseline) == {"linear", "majority"}
    assert run["baseline"]["linear"]["auc"] == shared_run.summary.baseline["linear"]["auc"]
    assert set(run["baseline"]["linear"]) == {m.name for m in project.metrics}
