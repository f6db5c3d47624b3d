"""Lineage, its commands and the notebooks on the session's shared pipeline run."""

from __future__ import annotations

import csv
import json
import os
import re

import pytest

from pipeline.__main__ import main
from pipeline.analysis import reports
from pipeline.config import PipelineConfig
from pipeline.data.fingerprints import config_code_fingerprint
from pipeline.data.validation import read_statistics
from pipeline.logs import shown_path
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
    assert prov.training.code_fingerprint == config_code_fingerprint(shared_config)
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
    # Text shows paths under the working directory relative; --json keeps them as recorded.
    assert f"input           {shown_path(SAMPLE_DATA)} (span 0" in text
    assert "Changes: none to report, this is the first pushed version" in text
    code, out = _cli(capsys, shared_config, "lineage", "--json")
    report = json.loads(out)
    assert report["provenance"]["data"]["input_base"] == str(SAMPLE_DATA)
    assert report["provenance"]["training"]["code_fingerprint"] == config_code_fingerprint(shared_config)


def test_runs_and_diff_commands(shared_run, shared_config, capsys) -> None:
    code, out = _cli(capsys, shared_config, "runs", "--json")
    [run] = json.loads(out)
    assert (code, run["run_id"], run["status"]) == (0, shared_run.summary.run_id, "COMPLETE")
    assert run["cached"] == [] and run["pushed_version"] == shared_run.summary.pushed_version
    assert run["reason"] == "by hand"  # what run_pipeline records when no reason is given
    code, out = _cli(capsys, shared_config, "diff", run["run_id"], "latest")
    assert code == 0
    assert not [line for line in out.splitlines() if line.startswith("*")]


@pytest.mark.parametrize("name", ["lineage", "data_validation", "model_analysis"])
def test_notebook_runs_and_draws(shared_run, shared_config, name: str, tmp_path) -> None:
    environ = {**os.environ, "PIPELINE_METADATA_PATH": str(shared_config.metadata_path),
               "PIPELINE_PIPELINE_NAME": shared_config.pipeline_name}
    notebook = notebooks.execute(notebooks.NOTEBOOK_DIR / f"{name}.ipynb", environ)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    # No red box: TensorFlow's C++ start-up errors and Python warnings stay out of the page.
    assert not [o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    tables = _rendered_tables(notebook, tmp_path / f"{name}.png")
    _assert_readable_numbers(tables)
    if name == "model_analysis":
        _assert_no_undefined_number(tables[0])
    if name == "data_validation":
        _assert_missing_matches_the_csv(tables[0])


# What the browser sees of the pandas tables of each output: header rows (colspans expanded), then
# body rows, and how many index cells (<th>) begin a body row.
_TABLES_JS = """() => [...document.querySelectorAll('.jp-OutputArea-output')].map(output =>
  [...output.querySelectorAll('table.dataframe')].map(t => ({
    index: [...(t.querySelector('tbody tr') || t).children].filter(c => c.tagName === 'TH').length,
    head: [...t.querySelectorAll('thead tr')].map(r => [...r.children].flatMap(
      c => Array(c.colSpan || 1).fill(c.innerText.trim()))),
    body: [...t.querySelectorAll('tbody tr')].map(r => [...r.children].map(c => c.innerText.trim())),
  }))).filter(parts => parts.length)"""


def _joined(parts: list[dict]) -> dict:
    """The column groups reports.page() split a wide table into, as one table again (every group
    repeats the index cells; they are kept from the first)."""
    head, body = parts[0]["head"], parts[0]["body"]
    for part in parts[1:]:
        head = [row + more[part["index"]:] for row, more in zip(head, part["head"], strict=True)]
        body = [row + more[part["index"]:] for row, more in zip(body, part["body"], strict=True)]
    return {"head": head, "body": body}


def _rendered_tables(notebook, screenshot) -> list[dict]:
    """The notebook as nbconvert renders it to HTML, opened in Chromium at a normal page width:
    no stderr output box, no output wider than the notebook column, and its pandas tables as the
    page shows them (one per output)."""
    from tests.support.browser import chromium_page, output_overflows, render_notebook

    with chromium_page() as page:
        render_notebook(page, notebook)
        assert page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').count() == 0
        page.screenshot(path=str(screenshot), full_page=True)
        assert output_overflows(page) == []
        return [_joined(parts) for parts in page.evaluate(_TABLES_JS)]


_NUMBER = re.compile(r"-?[\d,]+(\.\d+)?")


def _assert_readable_numbers(tables: list[dict]) -> None:
    """No number in scientific notation (1.4e+09); a column of numbers has one fixed number of
    decimals, and a count column none (82, not 82.0000)."""
    for table in tables:
        for i, label in enumerate(table["head"][0]):
            column = [row[i] for row in table["body"] if row[i] != "NaN"]
            assert not [c for c in column if re.fullmatch(r"-?[\d.,]+e[+-]?\d+", c, re.I)], label
            if column and all(_NUMBER.fullmatch(c) for c in column):
                decimals = {len(c.partition(".")[2]) for c in column}
                assert decimals == {0} if label.endswith("count") else len(decimals) == 1, (label, column)


def _assert_no_undefined_number(table: dict) -> None:
    """Every slice noted 'auc: one class' shows NaN for auc, never a number."""
    columns = table["head"][0]
    auc, note = columns.index("auc"), columns.index("note")
    one_class = [row for row in table["body"] if "auc: one class" in row[note]]
    assert one_class, "the shared run has slices of one class (payment types of a few rows)"
    assert {row[auc] for row in one_class} == {"NaN"}


def _assert_missing_matches_the_csv(table: dict) -> None:
    """The train-against-eval table's `missing` columns add up to the CSV's empty cells."""
    top = table["head"][0]
    columns = [i for i, label in enumerate(top) if label == "missing"]
    assert len(columns) == 2, top  # eval and train
    shown = {row[0]: sum(int(row[i].replace(",", "")) for i in columns) for row in table["body"]}
    expected = _empty_cells(SAMPLE_DATA)
    assert shown == {feature: expected[feature] for feature in shown}


def _empty_cells(csv_dir) -> dict[str, int]:
    """Rows with an empty cell, per column, of every CSV file of a folder."""
    counts: dict[str, int] = {}
    for path in sorted(csv_dir.glob("*.csv")):
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                for column, value in row.items():
                    counts[column] = counts.get(column, 0) + (value.strip() == "")
    return counts


def test_missing_values_in_the_feature_table_match_the_csv(shared_run, shared_config) -> None:
    prov = provenance.run_provenance(_store(shared_config), shared_run.summary.run_id,
                                     reports.no_metrics)
    tables = [reports.feature_table(read_statistics(prov.validation.statistics_uri, split))
              for split in prov.data.splits]
    missing = sum(table["missing"] for table in tables).to_dict()
    expected = _empty_cells(SAMPLE_DATA)
    assert missing == {column: expected[column] for column in missing}
    assert max(missing.values()) > 0


def test_a_slice_of_one_class_shows_no_auc(shared_run, shared_config) -> None:
    prov = provenance.run_provenance(_store(shared_config), shared_run.summary.run_id,
                                     reports.no_metrics)
    project = shared_config.declaration
    table = reports.slice_metrics(prov.evaluation.evaluation_uri, project)
    one_class = table[table["mean_label"].isin([0.0, 1.0])]
    assert len(one_class) > 0
    assert one_class["auc"].isna().all()
    assert one_class["note"].str.contains("auc: one class").all()
    small = table["example_count"] < project.min_slice_examples
    assert table.loc[small, "note"].str.startswith(f"n < {project.min_slice_examples}").all()


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
