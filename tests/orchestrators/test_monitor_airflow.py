"""The monitoring DAG really runs: `airflow dags test` against the session's served model; its
drift alert triggers the pipeline DAG (a stand-in DAG of that id here: tests/orchestrators/
test_season_airflow.py runs the real one) with the reason in the DAG run's conf."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.config import PipelineConfig
from pipeline.services import airflow_server
from tests.support.airflow_db import query, task_states
from tests.support.taxi_spans import generated_csv
from tests.support.webhook import Receiver, webhook_receiver
from tools import span_demo
from tools import taxi as features

pytestmark = [pytest.mark.airflow, pytest.mark.taxi]
DAG_ID = "taxi_monitoring"
TASK_ID = "monitor_requests"
ALERT_TASK = "alert"  # pipeline.services.airflow_loop.ALERT_TASK
DAG_FILE = airflow_server.DAGS_FOLDER / "monitoring.py"
# The pipeline DAG the alert triggers, standing in for the real one (which imports TFX).
PIPELINE_DAG = "taxi_monitored_pipeline"
STAND_IN = f"""
import datetime as dt
from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG("{PIPELINE_DAG}", schedule=None, start_date=dt.datetime(2024, 1, 1)) as dag:
    EmptyOperator(task_id="train")
"""


def monitor_environment(root: Path, config: PipelineConfig, requests: Path) -> dict[str, str]:
    """Airflow in root/airflow_home with only the monitoring DAG, watching `requests`."""
    dags = root / "dags"
    dags.mkdir()
    (dags / DAG_FILE.name).symlink_to(DAG_FILE)
    (dags / "stand_in.py").write_text(STAND_IN)
    home = root / "airflow_home"
    env = airflow_server.airflow_environment(home, dags, {
        **os.environ,
        "PIPELINE_MONITOR_REQUESTS_FILE": str(requests),
        "PIPELINE_MONITOR_METADATA_PATH": str(config.metadata_path),
        "PIPELINE_MONITOR_STATE_DIR": str(root / "monitoring"),
        "PIPELINE_MONITOR_PYTHON": sys.executable,
        "PIPELINE_MONITOR_PIPELINE_DAG": PIPELINE_DAG,
        "PIPELINE_AIRFLOW_SERVING_CONFIG_ROOT": str(root / "serving-config"),
    })
    home.mkdir()
    airflow_server.airflow_cli(env, "db", "migrate")
    # The trigger needs its target in Airflow's database, as a scheduler's parse puts it there.
    airflow_server.airflow_cli(env, "dags", "reserialize")
    return env


def dag_test(env: dict[str, str], day: str) -> tuple[int, str]:
    """`airflow dags test taxi_monitoring DAY`: exit code and output."""
    done = subprocess.run(["airflow", "dags", "test", DAG_ID, day], env=env,
                          capture_output=True, text=True, timeout=900)
    return done.returncode, done.stdout + done.stderr


def run_state(env: dict[str, str], day: str) -> tuple[str, dict[str, str | None]]:
    """The DAG run of that logical day and its task states, from Airflow's database."""
    db = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    [(run_id, state)] = query(
        db, "SELECT run_id, state FROM dag_run WHERE dag_id = ? AND run_id LIKE ?",
        DAG_ID, f"%{day}%")
    return state, task_states(db, DAG_ID, run_id)


def triggered(env: dict[str, str]) -> list[tuple[str, dict]]:
    """The pipeline DAG's runs: their type and conf (Airflow pickles the conf)."""
    db = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    rows = query(db, "SELECT run_type, conf FROM dag_run WHERE dag_id = ?", PIPELINE_DAG)
    return [(run_type, pickle.loads(conf) if conf else {}) for run_type, conf in rows]


def reports(root: Path) -> list[Path]:
    """The report.md files monitor wrote, oldest first (folders are named by time)."""
    return sorted((root / "monitoring" / "reports").glob("*/report.md"))


def test_monitoring_dag_passes_clean_requests_and_fails_on_drift(
    shared_run, shared_config: PipelineConfig, tmp_path: Path
) -> None:
    """A clean request log: the task succeeds with an OK report; a drifted one: it fails and
    its alert reaches the webhook connection."""
    with webhook_receiver() as receiver:
        _check_monitoring_dag(receiver, shared_config, tmp_path)


def _check_monitoring_dag(receiver: Receiver, shared_config: PipelineConfig, tmp_path: Path) -> None:
    """The body of the test above, alerts going to `receiver`."""
    requests = tmp_path / "requests" / "latest.csv"
    requests.parent.mkdir()
    env = monitor_environment(tmp_path, shared_config, requests)

    env["AIRFLOW_CONN_PIPELINE_ALERTS"] = receiver.url
    generated_csv(requests, 21, serving_only=True)
    started = time.monotonic()
    code, output = dag_test(env, "2024-01-02")
    clean_seconds = time.monotonic() - started
    assert code == 0, output[-3000:]
    assert run_state(env, "2024-01-02") == ("success", {
        TASK_ID: "success", ALERT_TASK: "success", "retraining_decision": "success",
        "trigger_retraining": "skipped"})
    [clean_report] = reports(tmp_path)
    assert "OK: no threshold crossed" in clean_report.read_text()
    assert (tmp_path / "monitoring" / "latest_window.json").is_file()
    assert receiver.received == [], "no alert for clean requests"
    assert triggered(env) == [], "no retraining for clean requests"

    generated_csv(requests, 22, span_demo.DEMO_DRIFT, serving_only=True)
    started = time.monotonic()
    code, output = dag_test(env, "2024-01-03")
    drifted_seconds = time.monotonic() - started
    assert code != 0
    assert f"SKEW   feature '{features.PAYMENT_TYPE_KEY}'" in output
    assert run_state(env, "2024-01-03") == ("failed", {
        TASK_ID: "success", ALERT_TASK: "failed", "retraining_decision": "success",
        "trigger_retraining": "success"})
    # Value drift retrains: the pipeline DAG got a run whose conf names the drifted feature.
    [(run_type, conf)] = triggered(env)
    assert run_type == "manual" and conf["reason"].startswith("drift alert: ")
    assert features.PAYMENT_TYPE_KEY in conf["reason"].removeprefix("drift alert: ").split(", ")
    # Drift alerts like a pipeline failure: one POST to the webhook connection.
    [(_, alert)] = receiver.received
    assert (alert["dag_id"], alert["task_id"]) == (DAG_ID, ALERT_TASK)
    assert "2024-01-03" in alert["run_id"] and f"/dags/{DAG_ID}/grid?" in alert["log_url"]
    drifted_report = reports(tmp_path)[-1]
    assert drifted_report != clean_report
    text = drifted_report.read_text()
    assert "ALERT: a threshold was crossed" in text and "| skew | l_infinity |" in text
    print(f"airflow dags test: clean {clean_seconds:.0f} s, drifted {drifted_seconds:.0f} s")
