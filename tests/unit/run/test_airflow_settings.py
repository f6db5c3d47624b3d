"""Airflow settings parsed at the DAG boundary, and the local Airflow's environment (no TF)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

from pipeline.config import ConfigError
from pipeline.run import airflow_server
from pipeline.run.airflow_runner import AirflowSettings, settings_from_env


def test_defaults_are_daily_with_retries() -> None:
    """No PIPELINE_AIRFLOW_* variables: daily schedule, retries, fixed UTC start date."""
    settings = settings_from_env({"PIPELINE_TRAIN_STEPS": "5", "HOME": "/root"})
    assert settings == AirflowSettings()
    assert settings.schedule == "@daily"
    assert settings.retries > 0
    assert settings.start_date == dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def test_variables_are_parsed() -> None:
    """Every setting has a variable; 'none' means manual triggers only; dates default to UTC."""
    settings = settings_from_env({
        "PIPELINE_AIRFLOW_SCHEDULE": "none",
        "PIPELINE_AIRFLOW_RETRIES": "0",
        "PIPELINE_AIRFLOW_RETRY_DELAY_SECONDS": "30",
        "PIPELINE_AIRFLOW_START_DATE": "2025-03-01",
    })
    assert settings == AirflowSettings(
        schedule=None,
        retries=0,
        retry_delay=dt.timedelta(seconds=30),
        start_date=dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc),
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PIPELINE_AIRFLOW_RETRIES", "many", "PIPELINE_AIRFLOW_RETRIES"),
        ("PIPELINE_AIRFLOW_RETRIES", "-1", "retries"),
        ("PIPELINE_AIRFLOW_START_DATE", "yesterday", "PIPELINE_AIRFLOW_START_DATE"),
        ("PIPELINE_AIRFLOW_SCHEDUEL", "@hourly", "unknown setting PIPELINE_AIRFLOW_SCHEDUEL"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str, message: str) -> None:
    """A typo or bad value fails the DAG import with a message naming what to fix."""
    with pytest.raises(ConfigError, match=message):
        settings_from_env({variable: value})


def test_local_airflow_environment(tmp_path: Path) -> None:
    """Home, DAG folder, SQLite, no examples, raised parse limits, this venv's bin first on PATH."""
    interval = "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL"
    env = airflow_server.airflow_environment(
        tmp_path, airflow_server.DAGS_FOLDER, {"PATH": "/bin", interval: "3600"}
    )
    assert env["AIRFLOW_HOME"] == str(tmp_path)
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(airflow_server.DAGS_FOLDER)
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "SequentialExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{tmp_path / 'airflow.db'}"
    assert float(env["AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT"]) >= 120
    assert env[interval] == "3600", "a parse setting from the caller's environment wins"
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    assert (Path(env["PATH"].split(":")[0]) / "airflow").is_file()
    assert env["TF_USE_LEGACY_KERAS"] == "1"
