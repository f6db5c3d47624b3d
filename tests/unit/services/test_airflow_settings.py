"""Airflow settings parsed at the DAG boundary, and the local Airflow's environment (no TF)."""

from __future__ import annotations

import datetime as dt
import os
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipeline.config import PROJECT_ROOT, ConfigError
from pipeline.errors import InvalidInput
from pipeline.run.airflow_runner import AirflowSettings, settings_from_env
from pipeline.services import airflow_alerts, airflow_server
from pipeline.services.postgres_server import Postgres


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


def test_server_environment_runs_the_local_executor_on_the_server(tmp_path: Path) -> None:
    """With a database server: LocalExecutor on it, REST API with logins, no deployment banner."""
    url = "postgresql+psycopg2://pipeline:secret@127.0.0.1:5432/airflow"
    env = airflow_server.airflow_environment(tmp_path, airflow_server.DAGS_FOLDER, {}, url)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == url
    assert "basic_auth" in env["AIRFLOW__API__AUTH_BACKENDS"]
    chosen = airflow_server.airflow_environment(
        tmp_path, airflow_server.DAGS_FOLDER, {"AIRFLOW__CORE__EXECUTOR": "CeleryExecutor"}, url)
    assert chosen["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", "the user's executor wins"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:////tmp/a.db"},
         "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"),
        ({"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://u:p@db/airflow"},
         "PIPELINE_METADATA_BACKEND"),
        ({"PIPELINE_METADATA_BACKEND": "sqlite"}, "PIPELINE_METADATA_BACKEND"),
    ],
)
def test_server_settings_refuse_sqlite(environ: dict[str, str], message: str) -> None:
    """SQLite cannot back parallel tasks: the variable at fault is named, exit code 2."""
    with pytest.raises(InvalidInput, match=message) as error:
        airflow_server.server_settings(Path("h"), "127.0.0.1", 8080, environ)
    assert error.value.exit_code == 2


def test_server_settings_default_to_our_own_cluster_on_loopback(tmp_path: Path) -> None:
    """No server configured: our cluster under home/state, the UI on 127.0.0.1."""
    settings = airflow_server.server_settings(tmp_path, "127.0.0.1", 8080, {})
    assert settings.database_url is None
    assert settings.cluster.root == tmp_path / "state" / "postgres"
    assert settings.url == "http://127.0.0.1:8080"
    with pytest.raises(InvalidInput, match="--port"):
        airflow_server.server_settings(tmp_path, "127.0.0.1", 0, {})


def test_alert_links_point_at_the_command_s_ui(tmp_path: Path) -> None:
    """Log URLs in alerts use the UI's address; an existing server's URL is used as given."""
    url = "postgresql+psycopg2://u:p@db:5432/airflow"
    settings = airflow_server.server_settings(
        tmp_path, "127.0.0.1", 8123,
        {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url, "PIPELINE_METADATA_BACKEND": "postgresql"})
    env = airflow_server.command_environment(settings, {}, {})
    assert env["AIRFLOW__WEBSERVER__BASE_URL"] == "http://127.0.0.1:8123"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == url
    proxied = airflow_server.command_environment(
        settings, {"AIRFLOW__WEBSERVER__BASE_URL": "https://airflow.example.org"}, {})
    assert proxied["AIRFLOW__WEBSERVER__BASE_URL"] == "https://airflow.example.org"


def test_admin_password_is_generated_once_into_a_private_file(tmp_path: Path) -> None:
    """airflow standalone's convention: a random password, file mode 0600, kept across starts."""
    path = airflow_server.admin_password(tmp_path)
    assert path == tmp_path / "standalone_admin_password.txt"
    password = path.read_text()
    assert len(password) >= 16 and password != "admin"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert airflow_server.admin_password(tmp_path).read_text() == password
    assert airflow_server.admin_password(tmp_path / "other").read_text() != password


def test_local_database_env_puts_ml_metadata_on_the_cluster() -> None:
    """Our cluster holds ML Metadata too, unless a metadata server is configured."""
    server = Postgres("127.0.0.1", 5555, "pipeline", "pw")
    env = airflow_server.local_database_env(server, {})
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@127.0.0.1:5555/airflow")
    assert (env["PIPELINE_METADATA_BACKEND"], env["PIPELINE_METADATA_DATABASE"]) == (
        "postgresql", "mlmd")
    mine = airflow_server.local_database_env(server, {"PIPELINE_METADATA_BACKEND": "mysql"})
    assert not any(key.startswith("PIPELINE_METADATA") for key in mine)


@pytest.mark.parametrize(
    ("fields", "url"),
    [
        ({"conn_type": "http", "host": "127.0.0.1", "port": 9000, "schema": "alerts"},
         "http://127.0.0.1:9000/alerts"),
        ({"conn_type": "https", "host": "hooks.slack.com", "port": None,
          "schema": "services/T/B/X"}, "https://hooks.slack.com/services/T/B/X"),
        ({"conn_type": "http", "host": "https://example.org/hook", "port": None, "schema": ""},
         "https://example.org/hook"),
    ],
)
def test_webhook_url_of_a_connection(fields: dict, url: str) -> None:
    """URI-style connections (path in `schema`) and a full URL in the host field both work."""
    assert airflow_alerts._webhook_url(SimpleNamespace(**fields)) == url


def test_failure_payload_names_dag_task_run_and_log() -> None:
    """What the webhook receives: enough to find the failed task and its log."""
    ti = SimpleNamespace(dag_id="taxi", task_id="Trainer", run_id="manual__1", try_number=2,
                         log_url="http://127.0.0.1:8080/log?dag_id=taxi&task_id=Trainer")
    payload = airflow_alerts.failure_payload({"task_instance": ti, "exception": OSError("disk")})
    assert payload["dag_id"] == "taxi" and payload["task_id"] == "Trainer"
    assert payload["run_id"] == "manual__1" and payload["log_url"] == ti.log_url
    assert payload["error"] == "OSError: disk"
    assert "taxi.Trainer" in payload["text"]


def test_airflow_keeps_its_own_state_apart_from_local_runs(tmp_path: Path) -> None:
    """By default the DAGs' artifacts, served versions and logs go under the Airflow home, not
    beside the local runs' (which have another ML Metadata store); explicit paths still win."""
    settings = airflow_server.server_settings(tmp_path / "home", "127.0.0.1", 8123, {})
    env = airflow_server.command_environment(
        settings, {**os.environ, "PIPELINE_STATE_DIR": str(tmp_path / "local")}, {})
    shown = subprocess.run(
        [sys.executable, "-c", "from pipeline.config import PipelineConfig; c = PipelineConfig(); "
         "print(c.pipeline_root, c.serving_dir, c.log_dir)"],
        env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout.split()
    state = tmp_path / "home" / "state"
    assert shown == [str(state / "pipelines" / "taxi"), str(state / "serving_model"),
                     str(state / "logs")]
    assert settings.cluster.root == state / "postgres"
    explicit = airflow_server.command_environment(
        settings, {"PIPELINE_SERVING_DIR": "/srv/models"}, {})
    assert explicit["PIPELINE_SERVING_DIR"] == "/srv/models"


def test_the_launch_says_where_failure_alerts_go(tmp_path: Path) -> None:
    settings = airflow_server.server_settings(
        tmp_path, "127.0.0.1", 8123, {"PIPELINE_AIRFLOW_ALERT_CONNECTION": "team_slack"})
    assert settings.alert_connection == "team_slack"
    assert airflow_server.server_settings(tmp_path, "127.0.0.1", 8123, {}).alert_connection == (
        "pipeline_alerts")
    nowhere = airflow_server.alert_line("team_slack", "")
    assert "no Airflow connection 'team_slack'" in nowhere and "alert nobody" in nowhere
    assert airflow_server.alert_line("team_slack", "https") == (
        "alerts        failed tasks alert through connection 'team_slack' (https)")
