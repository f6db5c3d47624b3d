"""Why a run happened: recorded on its run context in a real ML Metadata store (SQLite), by the
local runner's hook and by the Airflow DAG's first task, and shown by `runs` and `lineage`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pipeline.__main__ import main
from pipeline.config import store_config
from pipeline.metadata import connection, records
from pipeline.run import run_reason
from pipeline.run.local_runner import _record_reason
from pipeline.vocabulary import RUN_REASON_PROPERTY
from tests.support.mlmd_fake import FakePipeline, evaluated_and_pushed_runs


@pytest.mark.parametrize(("run_type", "conf", "expected"), [
    ("scheduled", None, "schedule"),
    ("manual", {}, "by hand"),
    ("manual", {"reason": "drift alert: fare, payment_type"}, "drift alert: fare, payment_type"),
    ("manual", {"reason": "  live degradation: auc 0.6012 < min 0.7 "},
     "live degradation: auc 0.6012 < min 0.7"),
    ("dataset_triggered", None, "schedule: dataset update"),
    ("backfill", {"other": 1}, "schedule: backfill"),
    ("something_new", None, "by hand (something_new run)"),
])
def test_a_dag_run_s_reason_comes_from_its_conf_else_its_type(run_type, conf, expected) -> None:
    assert run_reason.airflow_reason(run_type, conf) == expected


@pytest.mark.parametrize(("given", "problem"), [
    ("", "must be a non-empty text"), ({"kind": "drift"}, "must be a non-empty text"),
    ("drift\nalert", "must be one line"), ("x" * 301, "at most 300 characters"),
])
def test_a_conf_reason_that_is_no_one_line_text_is_named_not_recorded(given, problem) -> None:
    reason = run_reason.airflow_reason("manual", {"reason": given})
    assert reason.startswith("by hand (conf 'reason' ignored: ") and problem in reason


def test_run_refuses_a_bad_reason_naming_the_flag(capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["run", "--reason", "two\nlines"])
    assert stopped.value.code == 2
    assert "argument --reason: must be one line" in capsys.readouterr().err


def _legacy_runs(store, pipeline: str) -> list[records.RunRecord]:
    return records.list_runs(store, pipeline)


def test_the_airflow_reason_is_on_the_run_context_before_any_component(tmp_path: Path) -> None:
    """store_check runs first: the context it makes (TFX's legacy type 'run', its name and
    properties) is the one the run's executions then join; a retried check keeps one context."""
    fake = FakePipeline(tmp_path / "metadata.sqlite", "taxi")
    run_reason.record_airflow_reason(fake.store, "taxi", "manual__2024-01-02", "drift alert: fare")
    run_reason.record_airflow_reason(fake.store, "taxi", "manual__2024-01-02", "drift alert: fare")
    [context] = fake.store.get_contexts_by_type(records.LEGACY_RUN_CONTEXT)
    assert context.name == "taxi.manual__2024-01-02"
    assert context.properties["run_id"].string_value == "manual__2024-01-02"
    assert context.properties["pipeline_name"].string_value == "taxi"
    assert context.custom_properties[RUN_REASON_PROPERTY].string_value == "drift alert: fare"
    assert records.run_contexts(fake.store, "taxi") == []  # no execution yet: not a listed run


@pytest.mark.slow
def test_tfx_s_legacy_launcher_reuses_the_context_store_check_made(tmp_path: Path) -> None:
    """TFX's own registration (what AirflowDagRunner's components call) finds the context with
    its reason, and the run `runs` lists carries it."""
    from tfx.orchestration import data_types, metadata

    config = store_config({}, {"metadata_path": tmp_path / "metadata.sqlite"})
    store = connection.open_metadata(config, read_only=False)
    run_reason.record_airflow_reason(store, "taxi", "scheduled__2024-01-02", "schedule")
    info = data_types.PipelineInfo("taxi", str(tmp_path / "root"), run_id="scheduled__2024-01-02")
    component = data_types.ComponentInfo("fake.Component", "CsvExampleGen", info)
    with metadata.Metadata(connection.metadata_connection(config)) as launcher:
        contexts = launcher.register_pipeline_contexts_if_not_exists(info)
        execution = launcher.register_execution(info, component, contexts, exec_properties={})
    reader = connection.open_metadata(config)
    [run] = records.list_runs(reader, "taxi")
    assert (run.run_id, run.reason) == ("taxi.scheduled__2024-01-02", "schedule")
    # A store only Airflow wrote has no 'pipeline_run' type: its executions still name their run.
    assert records.run_of(reader, execution.id) == "taxi.scheduled__2024-01-02"
    assert len(store.get_contexts_by_type(records.LEGACY_RUN_CONTEXT)) == 1


def test_the_local_runner_records_its_reason_on_the_run_it_made_only(tmp_path: Path) -> None:
    fake = evaluated_and_pushed_runs(tmp_path / "metadata.sqlite", tmp_path, runs=1)
    launched = int(time.time() * 1000) + 1
    time.sleep(0.01)
    fake.execute("run-2", "CsvExampleGen")
    config = store_config({}, {"metadata_path": tmp_path / "metadata.sqlite"})
    _record_reason(config, launched, "live degradation: auc 0.6000 < min 0.7")
    runs = records.list_runs(connection.open_metadata(config), "taxi")
    assert [(r.run_id, r.reason) for r in runs] == [
        ("run-1", None), ("run-2", "live degradation: auc 0.6000 < min 0.7")]


def test_runs_and_lineage_show_the_reason(tmp_path: Path, capsys) -> None:
    fake = evaluated_and_pushed_runs(tmp_path / "metadata.sqlite", tmp_path, runs=2)
    run_reason.record_reason(fake.store, "run-2", "drift alert: fare, payment_type")
    store = ["--metadata", str(tmp_path / "metadata.sqlite"), "--pipeline-name", "taxi"]
    assert main(["runs", *store]) == 0
    header, first, second = capsys.readouterr().out.splitlines()[:3]
    assert header.rstrip().endswith("REASON")
    assert first.rstrip().endswith("-") and second.rstrip().endswith("drift alert: fare, payment_type")
    assert main(["runs", *store, "--json"]) == 0
    assert [r["reason"] for r in json.loads(capsys.readouterr().out)] == [
        None, "drift alert: fare, payment_type"]
    assert main(["lineage", *store]) == 0
    out = capsys.readouterr().out
    assert "  reason          drift alert: fare, payment_type\n" in out
    assert main(["lineage", *store, "--version", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reason"] is None
