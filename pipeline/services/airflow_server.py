"""Airflow as it runs in production, on this machine: scheduler and web UI with the LocalExecutor,
Airflow's database and ML Metadata on a PostgreSQL server (our own cluster under
$AIRFLOW_HOME/state unless AIRFLOW__DATABASE__SQL_ALCHEMY_CONN names an existing server), and the
admin login of `airflow standalone`: a generated password in a 0600 file, never on a command line."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import environment
from pipeline.config import (
    MODELS_DIR,
    PROJECT_ROOT,
    STATE_DIR,
    STATE_DIR_ENV,
    MetadataBackend,
    default_project,
)
from pipeline.config.project import project_names
from pipeline.errors import InvalidInput, WorkFailed
from pipeline.logs import private_file
from pipeline.services import launcher_lock, postgres_server
from pipeline.services.airflow_alerts import DEFAULT_CONNECTION
from pipeline.services.postgres_server import LocalCluster, Postgres


class AirflowStartError(WorkFailed):
    """Airflow (or its database) could not be started; the message says which part and where."""

DAGS_FOLDER = PROJECT_ROOT / "dags"


DEFAULT_HOME = STATE_DIR / "airflow"


DEFAULT_PORT = 8080


DEFAULT_HOST = "127.0.0.1"


ADMIN_USER = "admin"


# Airflow's own file name for the generated admin password (`airflow standalone`).
PASSWORD_FILE = "standalone_admin_password.txt"


AIRFLOW_DATABASE = "airflow"


MLMD_DATABASE = "mlmd"


DATABASE_URL_VARIABLE = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"


# airflow_dag's AirflowSettings.alert_connection, read by the launcher to say where alerts go.
ALERT_CONNECTION_VARIABLE = "PIPELINE_AIRFLOW_ALERT_CONNECTION"


HEALTH_TIMEOUT_SECONDS = 600.0


# What stops the command: Ctrl-C, `kill`, and the terminal closing.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


# The production path: the REST API takes the same logins as the UI (basic auth), and on 2
# busy cores a scheduler heartbeat can lag behind Airflow's 30 s default while tasks import
# TensorFlow, which the UI would report as "the scheduler does not appear to be running".
SERVER_SETTINGS = {
    "AIRFLOW__API__AUTH_BACKENDS": (
        "airflow.providers.fab.auth_manager.api.auth.backend.basic_auth,"
        "airflow.api.auth.backend.session"),
    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "120",
    "AIRFLOW__WEBSERVER__WORKERS": "2",
}


# Importing TensorFlow and TFX to parse the DAG takes 25 s on 2 idle cores and over 5 minutes
# on 2 cores shared with other jobs (measured: two task processes parsing side by side hit a
# 300 s limit, and the interrupted import then fails every later parse in that process).
# Airflow's defaults (30 s import timeout, re-parse every 30 s) would time out or keep the CPU busy.
PARSE_SETTINGS = {
    "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "1200",
    "AIRFLOW__CORE__DAG_FILE_PROCESSOR_TIMEOUT": "1800",
    "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "300",
    "AIRFLOW__SCHEDULER__PARSING_PROCESSES": "1",
    # A task can wait long in the queue while the few executor slots import TensorFlow.
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "7200",
}


def airflow_environment(
    home: Path, dags_folder: Path, environ: Mapping[str, str], database_url: str | None = None,
) -> dict[str, str]:
    """Environment of every Airflow process: its home, the DAG folder, no example DAGs.

    With a server database_url: the LocalExecutor on it (an executor chosen in `environ` wins,
    e.g. CeleryExecutor). Without: a SQLite file and the SequentialExecutor, which only DAG parsing
    and `airflow dags test` use. Parse settings already set in `environ` win over PARSE_SETTINGS.
    """
    env = {**PARSE_SETTINGS, **SERVER_SETTINGS, **environ}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # The executor starts each task as `airflow tasks run ...`, found on PATH.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), environ.get("PATH", "")]),
    })
    if database_url is None:
        env["AIRFLOW__CORE__EXECUTOR"] = "SequentialExecutor"
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home / 'airflow.db'}"
    else:
        env.setdefault("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
        # One task per core at a time: each imports TensorFlow; more would only thrash.
        env.setdefault("AIRFLOW__CORE__PARALLELISM", str(max(2, os.cpu_count() or 2)))
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = database_url
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


ADMIN_SCRIPT = """
import sys
from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

password = open(sys.argv[1]).read().strip()
with get_application_builder() as appbuilder:
    manager = appbuilder.sm
    user = manager.find_user(username=sys.argv[2])
    if user is None:
        manager.add_user(sys.argv[2], "Admin", "User", "admin@localhost",
                         manager.find_role("Admin"), password)
    else:
        manager.reset_password(user.id, password)

from airflow.hooks.base import BaseHook
try:
    channel = BaseHook.get_connection(sys.argv[3]).conn_type or "?"
except Exception:
    channel = ""
print("alert-channel:" + channel)
"""


ALERT_CHANNEL_PREFIX = "alert-channel:"


def admin_password(home: Path) -> Path:
    """The admin password file, created with a generated password (mode 0600) when missing."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / PASSWORD_FILE
    if not path.is_file() or not path.read_text().strip():
        postgres_server.write_private(path, secrets.token_urlsafe(18))
    os.chmod(path, 0o600)
    return path


def initialize(env: Mapping[str, str], alert_connection: str) -> tuple[Path, str]:
    """Migrate Airflow's database; the admin's password becomes the file's (passed by path).
    Also the type of the alert connection as Airflow resolves it ('' when there is none)."""
    password_file = admin_password(Path(env["AIRFLOW_HOME"]))
    airflow_cli(env, "db", "migrate")
    result = subprocess.run(
        [sys.executable, "-c", ADMIN_SCRIPT, str(password_file), ADMIN_USER, alert_connection],
        env=dict(env), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AirflowStartError(f"could not set the admin login: {result.stderr.strip()[-2000:]}")
    channels = [line[len(ALERT_CHANNEL_PREFIX):] for line in result.stdout.splitlines()
                if line.startswith(ALERT_CHANNEL_PREFIX)]
    return password_file, channels[-1] if channels else ""


def alert_line(connection_id: str, channel: str) -> str:
    """The launch's one line on failure alerts: where they go, or that they go nowhere."""
    if channel:
        return f"alerts        failed tasks alert through connection '{connection_id}' ({channel})"
    return (f"alerts        none: no Airflow connection '{connection_id}', failed tasks alert "
            "nobody (add one: docs/airflow.md#failure-alerts)")


def start(
    env: Mapping[str, str], args: Sequence[str], log_path: Path,
    program: Sequence[str] = ("airflow",),
) -> subprocess.Popen:
    """Start a long-running airflow command in its own process group, output to a log file."""
    with private_file(log_path, "ab") as log:  # Airflow logs its settings, connections too
        return subprocess.Popen(
            [*program, *args], env=dict(env), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def forks_tasks(env: Mapping[str, str]) -> bool:
    """True when the executor forks each task from the scheduler (LocalExecutor, Airflow's
    default `execute_tasks_new_python_interpreter=False`): only then do tasks inherit imports."""
    new_interpreter = env.get("AIRFLOW__CORE__EXECUTE_TASKS_NEW_PYTHON_INTERPRETER", "False")
    return (env.get("AIRFLOW__CORE__EXECUTOR") == "LocalExecutor"
            and new_interpreter.strip().lower() not in ("true", "1", "t"))


def scheduler_program(env: Mapping[str, str], preload: bool) -> tuple[str, ...]:
    """`airflow`, or the same CLI after importing TensorFlow and TFX once (pipeline.services.
    airflow_scheduler) when that is asked for and tasks are forked from the scheduler."""
    if preload and forks_tasks(env):
        return (sys.executable, "-m", "pipeline.services.airflow_scheduler")
    return ("airflow",)


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


@dataclass(frozen=True)
class ServerSettings:
    """Where the local Airflow lives and listens, and which database server holds its state."""

    home: Path = DEFAULT_HOME
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    # An existing server's SQLAlchemy URL (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN); None: start
    # our own PostgreSQL cluster under home/state.
    database_url: str | None = field(default=None, repr=False)
    # Import TensorFlow and TFX in the scheduler once, for the tasks it forks to inherit.
    preload: bool = True
    # The Airflow connection failure alerts go through (PIPELINE_AIRFLOW_ALERT_CONNECTION).
    alert_connection: str = DEFAULT_CONNECTION

    @property
    def url(self) -> str:
        """The UI's address as a browser reaches it."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def state(self) -> Path:
        """This Airflow's own state: its pipelines' artifacts, served versions, logs, mirror
        (the Airflow processes' PIPELINE_STATE_DIR), and our PostgreSQL cluster."""
        return self.home / "state"

    @property
    def cluster(self) -> LocalCluster:
        """Our own PostgreSQL cluster's folder."""
        return LocalCluster(self.state / "postgres")


def server_settings(
    home: Path, host: str, port: int, environ: Mapping[str, str], preload: bool = True
) -> ServerSettings:
    """Validate the flags and the database variables once, naming the one at fault."""
    if not 0 < port < 65536:
        raise InvalidInput(f"--port: must be in 1..65535, got {port}")
    url = environ.get(DATABASE_URL_VARIABLE) or None
    if url is not None and not url.startswith(("postgresql", "mysql")):
        raise InvalidInput(f"{DATABASE_URL_VARIABLE}: must name a PostgreSQL or MySQL server "
                           "(the LocalExecutor cannot run on SQLite)")
    backend = environ.get("PIPELINE_METADATA_BACKEND")
    if backend == MetadataBackend.SQLITE.value or (url is not None and backend is None):
        raise InvalidInput("PIPELINE_METADATA_BACKEND: set postgresql or mysql (and the "
                           "PIPELINE_METADATA_* server settings): tasks running in parallel "
                           "cannot share a SQLite ML Metadata file")
    alerts = environ.get(ALERT_CONNECTION_VARIABLE, "").strip() or DEFAULT_CONNECTION
    return ServerSettings(home=home.resolve(), host=host, port=port, database_url=url,
                          preload=preload, alert_connection=alerts)


def local_database_env(server: Postgres, environ: Mapping[str, str]) -> dict[str, str]:
    """Airflow's database on our cluster, and ML Metadata too unless a server is configured."""
    env = {DATABASE_URL_VARIABLE: server.url(AIRFLOW_DATABASE)}
    if "PIPELINE_METADATA_BACKEND" not in environ:
        env.update({
            "PIPELINE_METADATA_BACKEND": MetadataBackend.POSTGRESQL.value,
            "PIPELINE_METADATA_HOST": server.host,
            "PIPELINE_METADATA_PORT": str(server.port),
            "PIPELINE_METADATA_DATABASE": MLMD_DATABASE,
            "PIPELINE_METADATA_USER": server.user,
            "PIPELINE_METADATA_PASSWORD": server.password,
        })
    return env


def _healthy(url: str) -> bool:
    """True once the UI answers and reports the metadata database and the scheduler healthy."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
            health = json.load(response)
    except (OSError, ValueError):
        return False
    return all(health.get(part, {}).get("status") == "healthy"
               for part in ("metadatabase", "scheduler"))


def wait_until_healthy(url: str, processes: Sequence[subprocess.Popen], timeout: float) -> None:
    """Poll /health until scheduler and UI are up; fail if one exits or time runs out."""
    deadline = time.monotonic() + timeout
    while not _healthy(url):
        if any(p.poll() is not None for p in processes):
            raise AirflowStartError("an Airflow process exited while starting; see its log")
        if time.monotonic() > deadline:
            raise AirflowStartError(f"Airflow was not healthy at {url}/health after "
                                    f"{timeout:.0f} s; see the logs")
        time.sleep(2)


def _database_env(settings: ServerSettings, environ: Mapping[str, str]) -> dict[str, str]:
    """Start our own cluster when no server is configured; the variables that reach it."""
    if settings.database_url is not None:
        return {}
    postgres_server.install()
    server = postgres_server.start(settings.cluster)
    for database in (AIRFLOW_DATABASE, MLMD_DATABASE):
        server.create_database(database)
    print(f"PostgreSQL    {server.host}:{server.port} (databases {AIRFLOW_DATABASE}, "
          f"{MLMD_DATABASE}; data in {settings.cluster.data})", flush=True)
    return local_database_env(server, environ)


def command_environment(
    settings: ServerSettings, environ: Mapping[str, str], database_env: Mapping[str, str]
) -> dict[str, str]:
    """The Airflow processes' environment: the database variables, the UI's own address as
    the base of the links in alerts (a BASE_URL set in `environ`, e.g. behind a proxy, wins),
    and their own state folder under the home: local runs and this Airflow keep separate
    artifacts, served versions and ML Metadata stores by default (run/store_owner.py refuses
    any folder two stores would share)."""
    return airflow_environment(
        settings.home, DAGS_FOLDER,
        {"AIRFLOW__WEBSERVER__BASE_URL": settings.url, **environ, **database_env,
         STATE_DIR_ENV: str(settings.state)},
        database_env.get(DATABASE_URL_VARIABLE, settings.database_url),
    )


def serve(settings: ServerSettings, environ: Mapping[str, str]) -> int:
    """Run our database, scheduler and web UI until Ctrl-C, SIGTERM or one of them exits; one
    launcher per home (launcher_lock), which first stops what a crashed one left running."""
    # `kill` and a closed terminal stop cleanly too, and Ctrl-C works even if the launching
    # shell ignored SIGINT.
    for number in STOP_SIGNALS:
        signal.signal(number, signal.default_int_handler)
    with launcher_lock.held(settings.home, settings.url):
        processes: list[subprocess.Popen] = []
        try:
            orphans = launcher_lock.stop_orphans(settings.home)
            if orphans:
                print(f"stopped       scheduler and UI a crashed launcher left running (pids "
                      f"{', '.join(map(str, orphans))})", flush=True)
            env = command_environment(settings, environ, _database_env(settings, environ))
            password_file = _initialize(env, settings.alert_connection)
            return _run_until_stopped(settings, env, password_file, processes, environ)
        except KeyboardInterrupt:
            return 0
        finally:
            _shut_down(settings, processes)


def _shut_down(settings: ServerSettings, processes: Sequence[subprocess.Popen]) -> None:
    """Stop scheduler, UI and our database; a second Ctrl-C (or SIGTERM) cannot interrupt it,
    nor a terminal that is gone (a closed window: printing fails)."""
    for number in STOP_SIGNALS:
        signal.signal(number, signal.SIG_IGN)
    if processes:
        with contextlib.suppress(OSError):
            print("stopping      scheduler, web UI and database (Ctrl-C again is ignored)",
                  flush=True)
    for process in reversed(processes):
        stop(process)
    if settings.database_url is None:
        postgres_server.stop(settings.cluster)
    launcher_lock.forget_children(settings.home)


def _initialize(env: Mapping[str, str], alert_connection: str) -> Path:
    """initialize(), with a failed `airflow` command as one error naming it; prints where
    failure alerts go."""
    try:
        password_file, channel = initialize(env, alert_connection)
        print(alert_line(alert_connection, channel), flush=True)
        return password_file
    except subprocess.CalledProcessError as error:
        output = (error.stderr or error.stdout or "").strip().splitlines()[-1:]
        raise AirflowStartError(f"`{' '.join(error.cmd)}` failed: {' '.join(output)}") from error


def _run_until_stopped(
    settings: ServerSettings, env: Mapping[str, str], password_file: Path,
    processes: list[subprocess.Popen], environ: Mapping[str, str],
) -> int:
    """Start scheduler and UI, announce them once healthy, then watch them."""
    logs = settings.home / "logs"
    # No worker log server (it binds every interface): the UI reads the tasks' log files here.
    processes.append(start(env, ["scheduler", "--skip-serve-logs"], logs / "scheduler.out",
                           scheduler_program(env, settings.preload)))
    launcher_lock.record_children(settings.home, [p.pid for p in processes])
    processes.append(start(env, ["webserver", "--hostname", settings.host,
                                 "--port", str(settings.port)], logs / "webserver.out"))
    launcher_lock.record_children(settings.home, [p.pid for p in processes])
    print(f"starting      scheduler and web UI (LocalExecutor; logs in {logs})", flush=True)
    wait_until_healthy(settings.url, processes, HEALTH_TIMEOUT_SECONDS)
    print(f"Airflow UI    {settings.url}  (login {ADMIN_USER}, password in {password_file})")
    print(f"DAG folder    {DAGS_FOLDER} (new DAGs start paused: unpause {_dag_names(environ)} "
          "in the UI)")
    print(f"logs          {logs}/scheduler.out, {logs}/webserver.out")
    print("Ctrl-C stops the scheduler, the web UI and the database.", flush=True)
    while all(p.poll() is None for p in processes):
        time.sleep(2)
    raise AirflowStartError(f"an Airflow process exited; see {logs}/scheduler.out and "
                            f"{logs}/webserver.out")
