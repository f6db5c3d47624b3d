"""`python -m pipeline airflow` as a user starts it, for tests: its own PostgreSQL cluster, the
LocalExecutor, the generated admin password; plus readers of what it keeps (Airflow's tables, the
REST API with that login, the ML Metadata database)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import PROJECT_ROOT, PipelineConfig
from pipeline.services import airflow_server, postgres_server
from pipeline.services.postgres_server import Postgres

STARTUP_TIMEOUT_SECONDS = 900.0


@dataclass(frozen=True)
class AirflowCommand:
    """A running `python -m pipeline airflow`: where it lives, its console, its database."""

    home: Path
    url: str
    process: subprocess.Popen
    console: Path
    startup_seconds: float

    @property
    def password_file(self) -> Path:
        return self.home / airflow_server.PASSWORD_FILE

    @property
    def postgres(self) -> Postgres:
        """The cluster the command started (port from its postmaster.pid)."""
        return postgres_server.running(postgres_server.LocalCluster(self.home / "state" / "postgres"))

    def metadata_config(self, config: PipelineConfig) -> PipelineConfig:
        """`config` reading the ML Metadata database the command gave the tasks."""
        import dataclasses

        from pipeline.config import MetadataBackend

        server = self.postgres
        return dataclasses.replace(
            config, metadata_backend=MetadataBackend.POSTGRESQL, metadata_host=server.host,
            metadata_port=server.port, metadata_database=airflow_server.MLMD_DATABASE,
            metadata_user=server.user, metadata_password=server.password)

    def api(self, method: str, path: str, body: Mapping[str, object] | None = None) -> dict:
        """One REST API call with the generated admin login (basic auth)."""
        login = f"{airflow_server.ADMIN_USER}:{self.password_file.read_text().strip()}"
        request = urllib.request.Request(
            f"{self.url}/api/v1/{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json",
                     "Authorization": "Basic " + base64.b64encode(login.encode()).decode()})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)


@contextmanager
def postgres_reachable_folder(prefix: str) -> Iterator[Path]:
    """A temp folder the `postgres` user can reach (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _wait_for_line(console: Path, process: subprocess.Popen, text: str, timeout: float) -> None:
    """Wait until the command prints `text`; fail with its console if it exits or hangs."""
    deadline = time.monotonic() + timeout
    while text not in console.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"`python -m pipeline airflow` did not print {text!r} "
                               f"(exit {process.poll()}):\n{console.read_text()[-3000:]}")
        time.sleep(2)


@contextmanager
def airflow_command(
    home: Path, port: int, environ: Mapping[str, str], flags: tuple[str, ...] = ()
) -> Iterator[AirflowCommand]:
    """Run the command (with extra `flags`) until it announces the UI; stop it (and its
    database) afterwards."""
    console = home.parent / "console.txt"
    started = time.monotonic()
    with console.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "airflow", "--home", str(home), "--port", str(port),
             *flags],
            cwd=PROJECT_ROOT, env={**os.environ, **environ}, stdout=output,
            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_line(console, process, "Airflow UI", STARTUP_TIMEOUT_SECONDS)
        yield AirflowCommand(home, f"http://127.0.0.1:{port}", process, console,
                             time.monotonic() - started)
    finally:
        process.terminate()  # SIGTERM: the command stops scheduler, UI and database itself
        try:
            process.wait(120)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
