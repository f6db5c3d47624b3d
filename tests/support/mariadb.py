"""A throwaway MariaDB server for service tests: own datadir, socket and port in a tmp folder."""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import PROJECT_ROOT
from pipeline.services.postgres_server import free_port

INSTALL_SCRIPT = PROJECT_ROOT / "scripts" / "install-mariadb.sh"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


@dataclass(frozen=True)
class MariaDB:
    """A running server: clients reach it on 127.0.0.1:port; the admin uses the socket."""

    port: int
    socket: Path

    def _admin_args(self) -> list[str]:
        return ["--no-defaults", f"--socket={self.socket}", f"--user={getpass.getuser()}"]

    def sql(self, statements: str) -> str:
        """Run SQL as the server's administrator; tab-separated rows without a header."""
        command = [_binary("mariadb"), *self._admin_args(), "--batch", "--skip-column-names"]
        result = subprocess.run(
            [*command, "--execute", statements], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"mariadb failed on {statements!r}: {result.stderr.strip()}")
        return result.stdout

    def admin(self, command: str) -> bool:
        """A mariadb-admin command (ping, shutdown); True when it succeeded."""
        args = [_binary("mariadb-admin"), *self._admin_args(), command]
        return subprocess.run(args, capture_output=True, check=False).returncode == 0


def _binary(name: str) -> str:
    """A MariaDB program, also where Debian puts the server (/usr/sbin)."""
    path = shutil.which(name, path=SEARCH_PATH)
    if path is None:
        raise FileNotFoundError(f"{name} not found after {INSTALL_SCRIPT.name}")
    return path



def _initialise(datadir: Path) -> None:
    """System tables in a fresh datadir; the OS user administers it through the socket."""
    subprocess.run(
        [_binary("mariadb-install-db"), "--no-defaults", f"--user={getpass.getuser()}",
         f"--datadir={datadir}", "--auth-root-authentication-method=socket", "--skip-test-db"],
        capture_output=True, text=True, check=True,
    )


def _wait_until_ready(server: MariaDB, process: subprocess.Popen, log: Path) -> None:
    """Poll until the server answers; fail with its log if it exits or takes too long."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not server.admin("ping"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"mariadbd did not start; its log:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


@contextmanager
def running_mariadb(root: Path) -> Iterator[MariaDB]:
    """Install the server if missing, start it under `root`, and always stop it."""
    subprocess.run([str(INSTALL_SCRIPT)], check=True)
    datadir, log = root / "data", root / "mariadbd.log"
    _initialise(datadir)
    server = MariaDB(port=free_port(), socket=root / "mariadb.sock")
    with log.open("w") as output:
        process = subprocess.Popen(
            [_binary("mariadbd"), "--no-defaults", f"--user={getpass.getuser()}",
             f"--datadir={datadir}", f"--socket={server.socket}", f"--port={server.port}",
             "--bind-address=127.0.0.1", "--skip-name-resolve", f"--pid-file={root / 'pid'}"],
            stdout=output, stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_ready(server, process, log)
        yield server
    finally:
        server.admin("shutdown")
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
