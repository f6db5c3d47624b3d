"""A failed task alerts through the Airflow connection: a real `airflow dags test` of a DAG built
with the pipeline DAGs' own arguments (no TensorFlow), and a real http.server receiving the POST."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from pipeline.services import airflow_server
from tests.support.webhook import webhook_receiver

pytestmark = pytest.mark.airflow

DAG_ID = "alert_probe"
TASK_ID = "transient_failure"
BASE_URL = "http://127.0.0.1:8793"
PROBE_DAG = f'''"""A one-task DAG with the pipeline DAGs' default_args (owner, retries, failure alert)."""
import os

from airflow import DAG
from airflow.operators.bash import BashOperator

from pipeline.config import config_from_values, env_values
from pipeline.run.airflow_runner import dag_arguments, settings_from_env

arguments = dag_arguments(config_from_values(env_values(os.environ)), settings_from_env(os.environ))
with DAG("{DAG_ID}", **arguments) as dag:
    BashOperator(task_id="{TASK_ID}", bash_command="echo 'upstream unavailable'; exit 3")
'''


def test_failed_task_posts_its_alert_to_the_webhook_connection(tmp_path: Path) -> None:
    """dag id, task id, run id, a log URL on the UI's address and the error reach the receiver."""
    dags, home = tmp_path / "dags", tmp_path / "airflow_home"
    dags.mkdir()
    (dags / "probe.py").write_text(PROBE_DAG)
    with webhook_receiver("/hooks/airflow") as receiver:
        env = airflow_server.airflow_environment(home, dags, {
            **os.environ, "PIPELINE_AIRFLOW_RETRIES": "0", "PIPELINE_AIRFLOW_SCHEDULE": "none",
            "AIRFLOW__WEBSERVER__BASE_URL": BASE_URL,
            "AIRFLOW_CONN_PIPELINE_ALERTS": receiver.url,
        })
        airflow_server.airflow_cli(env, "db", "migrate")
        done = subprocess.run(["airflow", "dags", "test", DAG_ID], env=env,
                              capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode != 0, done.stdout[-2000:]
    with sqlite3.connect(f"file:{home / 'airflow.db'}?mode=ro", uri=True) as db:
        [(run_id, state)] = db.execute(
            "SELECT run_id, state FROM dag_run WHERE dag_id = ?", (DAG_ID,)).fetchall()
    assert state == "failed"

    [(path, alert)] = receiver.received
    assert path == "/hooks/airflow"
    assert (alert["dag_id"], alert["task_id"], alert["run_id"]) == (DAG_ID, TASK_ID, run_id)
    assert alert["log_url"].startswith(f"{BASE_URL}/dags/{DAG_ID}/grid?")
    assert f"task_id={TASK_ID}" in alert["log_url"]
    assert "exit code 3" in alert["error"]
    assert f"{DAG_ID}.{TASK_ID}" in alert["text"]
