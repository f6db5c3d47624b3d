"""A local Airflow (scheduler and web UI, SQLite, SequentialExecutor) running the project's DAG."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from pipeline import environment
from pipeline.config import MODELS_DIR, PROJECT_ROOT, STATE_DIR, default_project
from pipeline.config.project import project_names
from pipeline.run.console import private_file

DAGS_FOLDER = PROJECT_ROOT / "dags"


DEFAULT_HOME = STATE_DIR / "airflow"


DEFAULT_PORT = 8080


ADMIN_USER = "admin"


# Importing TensorFlow and TFX to parse the DAG takes 25-40 s on 2 busy cores; Airflow's
# defaults (30 s import timeout, re-parse every 30 s) would time out or keep the CPU busy.
PARSE_SETTINGS = {
    "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "300",
    "AIRFLOW__CORE__DAG_FILE_PROCESSOR_TIMEOUT": "600",
    "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "300",
    "AIRFLOW__SCHEDULER__PARSING_PROCESSES": "1",
    # The sequential executor runs one task at a time while the others wait queued.
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "7200",
}


def airflow_environment(
    home: Path, dags_folder: Path, environ: Mapping[str, str]
) -> dict[str, str]:
    """Environment of every Airflow process: its home, the DAG folder, SQLite, no example DAGs.

    Parse settings already set in `environ` win over PARSE_SETTINGS.
    """
    env = {**PARSE_SETTINGS, **environ}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "SequentialExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__WEBSERVER__WORKERS": "2",
        # The executor starts each task as `airflow tasks run ...`, found on PATH.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), environ.get("PATH", "")]),
    })
    environment.prepare(env)
    return env


def airflow_cli(env: Mapping[str, str], *args: str) -> str:
    """Run one `airflow` command; its stdout, or a CalledProcessError carrying its output."""
    result = subprocess.run(
        ["airflow", *args], env=dict(env), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise subprocess.CalledProcessError(
            result.returncode, result.args, result.stdout, result.stderr
        )
    return result.stdout


def initialize(env: Mapping[str, str], admin_password: str) -> None:
    """Create or upgrade Airflow's database and make sure the admin login exists."""
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    airflow_cli(env, "db", "migrate")
    if ADMIN_USER not in airflow_cli(env, "users", "list", "-o", "plain"):
        airflow_cli(
            env, "users", "create", "--username", ADMIN_USER, "--password", admin_password,
            "--role", "Admin", "--firstname", "Admin", "--lastname", "User",
            "--email", "admin@localhost",
        )


def start(env: Mapping[str, str], args: Sequence[str], log_path: Path) -> subprocess.Popen:
    """Start a long-running airflow command in its own process group, output to a log file."""
    with private_file(log_path, "ab") as log:  # Airflow logs its settings, connections too
        return subprocess.Popen(
            ["airflow", *args], env=dict(env), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen, timeout: float = 60) -> None:
    """Stop a process started by `start` and the task processes it spawned (its group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _dag_names(environ: Mapping[str, str]) -> str:
    """The pipeline DAGs dags/pipelines.py builds (pipeline.run.airflow_dag): PIPELINE_PROJECT's,
    else one per project; PIPELINE_PIPELINE_NAME renames the selected (or default) project's."""
    chosen = environ.get("PIPELINE_PROJECT")
    names = [chosen] if chosen else project_names(MODELS_DIR)
    renamed = environ.get("PIPELINE_PIPELINE_NAME")
    if renamed:
        default = chosen or default_project(PROJECT_ROOT)
        names = [renamed if name == default else name for name in names]
    return ", ".join(f"'{name}'" for name in names)


def serve(home: Path, port: int, admin_password: str, environ: Mapping[str, str]) -> int:
    """Run scheduler and web UI until Ctrl-C, SIGTERM or one of them exits; then stop both."""
    # `kill` stops cleanly too, and Ctrl-C works even if the launching shell ignored SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    env = airflow_environment(home, DAGS_FOLDER, environ)
    initialize(env, admin_password)
    logs = home / "logs"
    scheduler = start(env, ["scheduler"], logs / "scheduler.out")
    webserver = start(
        env, ["webserver", "--hostname", "127.0.0.1", "--port", str(port)], logs / "webserver.out"
    )
    print(f"Airflow UI    http://127.0.0.1:{port}  (login {ADMIN_USER} / {admin_password})")
    print(f"DAG folder    {DAGS_FOLDER} (new DAGs start paused: unpause {_dag_names(environ)} "
          "in the UI)")
    print(f"logs          {logs}/scheduler.out, {logs}/webserver.out")
    print("Ctrl-C stops the scheduler and the web UI.")
    try:
        while scheduler.poll() is None and webserver.poll() is None:
            time.sleep(2)
        print("error: an Airflow process exited; see the logs above", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop(webserver)
        stop(scheduler)
