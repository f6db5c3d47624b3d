"""A PostgreSQL cluster of our own (Debian's postgresql package) for Airflow's and MLMD's databases.

`python -m pipeline airflow` starts one under $AIRFLOW_HOME/state when no server is configured, and
the Airflow tests start one in a temporary folder. The server refuses to run as root: as root, the
cluster belongs to the package's `postgres` user. Clients reach it on 127.0.0.1 with a generated
password kept in a 0600 file beside the data folder, never on a command line.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import PROJECT_ROOT
from pipeline.errors import WorkFailed
from pipeline.logs import private_file

INSTALL_SCRIPT = PROJECT_ROOT / "scripts" / "install-postgresql.sh"
BIN_DIR = Path("/usr/lib/postgresql/15/bin")
SUPERUSER = "pipeline"
SYSTEM_USER = "postgres"
START_TIMEOUT_SECONDS = 60.0


class PostgresError(WorkFailed):
    """The local PostgreSQL cluster could not be installed, created or started."""


@dataclass(frozen=True)
class Postgres:
    """A running cluster: host, port and the superuser's login."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)

    def url(self, database: str, driver: str = "postgresql+psycopg2") -> str:
        """SQLAlchemy URL of one database (Airflow's sql_alchemy_conn)."""
        return f"{driver}://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        """Create a database unless it exists."""
        from psycopg2 import sql

        with self._connect("postgres") as connection:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cursor.fetchone() is None:
                    cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def query(self, database: str, statement: str, *params: object) -> list[tuple]:
        """Rows of one SQL statement in a database (tests and checks read Airflow's tables)."""
        with self._connect(database) as connection:
            with connection.cursor() as cursor:
                cursor.execute(statement, params)
                return cursor.fetchall() if cursor.description else []

    def _connect(self, database: str):
        """An autocommit connection (CREATE DATABASE cannot run in a transaction)."""
        import psycopg2

        connection = psycopg2.connect(host=self.host, port=self.port, user=self.user,
                                      password=self.password, dbname=database, connect_timeout=5)
        connection.autocommit = True
        return _Closing(connection)


class _Closing:
    """psycopg2's `with connection` commits but does not close: close it too."""

    def __init__(self, connection) -> None:
        self.connection = connection

    def __enter__(self):
        return self.connection

    def __exit__(self, *exc: object) -> None:
        self.connection.close()


@dataclass(frozen=True)
class LocalCluster:
    """Where a cluster lives: data folder, password file, server log."""

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def password_file(self) -> Path:
        return self.root / "superuser_password.txt"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"


def _as_owner(args: list[str]) -> list[str]:
    """Run a server program as `postgres` when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", SYSTEM_USER, "--", *args]


def _run(args: list[str], what: str) -> None:
    """Run one server program; a failure is a PostgresError quoting its output."""
    result = subprocess.run(_as_owner(args), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()[-2000:]
        raise PostgresError(f"PostgreSQL {what} failed: {output}")


def install() -> None:
    """Install Debian's server package when it is missing (idempotent)."""
    if subprocess.run([str(INSTALL_SCRIPT)], check=False).returncode != 0:
        raise PostgresError(f"could not install PostgreSQL ({INSTALL_SCRIPT.name})")


def _give_to_server_user(path: Path) -> None:
    """As root, the server user must own its folder and reach it through every parent."""
    if os.geteuid() != 0:
        return
    shutil.chown(path, SYSTEM_USER, SYSTEM_USER)
    check = subprocess.run(["runuser", "-u", SYSTEM_USER, "--", "test", "-w", str(path)],
                           check=False)
    if check.returncode != 0:
        raise PostgresError(
            f"PostgreSQL runs as user '{SYSTEM_USER}', which cannot reach {path}: give its "
            "parent folders search permission (chmod o+x) or choose another --home")


def initialise(cluster: LocalCluster) -> None:
    """Create the cluster with a generated superuser password, once."""
    if (cluster.data / "PG_VERSION").is_file():
        return
    cluster.root.mkdir(parents=True, exist_ok=True)
    _give_to_server_user(cluster.root)
    password = secrets.token_urlsafe(24)
    write_private(cluster.password_file, password)
    if os.geteuid() == 0:  # initdb reads it as the server user
        shutil.chown(cluster.password_file, SYSTEM_USER, SYSTEM_USER)
    _run([str(BIN_DIR / "initdb"), "-D", str(cluster.data), "-U", SUPERUSER,
          "--auth-local=peer", "--auth-host=scram-sha-256", "--encoding=UTF8",
          f"--pwfile={cluster.password_file}"], "initdb")


def write_private(path: Path, text: str) -> None:
    """Write a secret readable by its owner only (created 0600, never wider)."""
    with private_file(path, "w") as handle:
        handle.write(text)


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(cluster: LocalCluster) -> Postgres:
    """Start the cluster on 127.0.0.1 and a free port; wait until it accepts logins."""
    initialise(cluster)
    stop(cluster)  # a server left running by a killed command would hold the data folder
    port = free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={cluster.data}"
    _run([str(BIN_DIR / "pg_ctl"), "-D", str(cluster.data), "-l", str(cluster.log),
          "-o", options, "-w", "-t", str(int(START_TIMEOUT_SECONDS)), "start"], "start")
    server = Postgres("127.0.0.1", port, SUPERUSER, cluster.password_file.read_text().strip())
    _wait_for_login(server, cluster)
    return server


def _wait_for_login(server: Postgres, cluster: LocalCluster) -> None:
    """Poll a login until it works; the server log in the error otherwise."""
    import psycopg2

    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        try:
            server.query("postgres", "SELECT 1")
            return
        except psycopg2.OperationalError as error:
            if time.monotonic() > deadline:
                raise PostgresError(f"PostgreSQL does not accept logins ({error}); its log: "
                                    f"{cluster.log}") from error
            time.sleep(0.3)


def stop(cluster: LocalCluster) -> None:
    """Stop the cluster if it runs (fast shutdown: open sessions are ended)."""
    if not (cluster.data / "postmaster.pid").exists():
        return
    subprocess.run(_as_owner([str(BIN_DIR / "pg_ctl"), "-D", str(cluster.data), "-m", "fast",
                              "-w", "stop"]), capture_output=True, check=False)


def running(cluster: LocalCluster) -> Postgres:
    """The login of a cluster another process started (its port from postmaster.pid)."""
    lines = (cluster.data / "postmaster.pid").read_text().splitlines()
    return Postgres("127.0.0.1", int(lines[3]), SUPERUSER,
                    cluster.password_file.read_text().strip())
