"""An unreachable metadata server fails within seconds, named by host:port, before any work."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.config import MetadataBackend
from pipeline.metadata import connection
from tests.support.configs import small_config
from tests.support.faults import cli_run, fake_served_version

LIMIT_SECONDS = 10.0
# The probe's own unit cases wait 1 s for an answer; the command-line case keeps the default (3 s).
SHORT_PROBE = 1.0


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A local port nothing listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    yield port


@contextlib.contextmanager
def black_hole() -> Iterator[int]:
    """A listening socket that never accepts nor answers: connect succeeds, then silence."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


@contextlib.contextmanager
def hang_up() -> Iterator[int]:
    """A server that accepts each connection and closes it without a word."""
    with _serving(lambda conn: None) as port:
        yield port


@contextlib.contextmanager
def _serving(answer) -> Iterator[int]:
    """A thread accepting connections on a local port, calling answer(conn) for each."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                answer(conn)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        server.close()


def _greets(backend: MetadataBackend):
    """What a live server says first: MySQL a handshake packet, PostgreSQL 'N' to an SSLRequest."""
    def answer(conn: socket.socket) -> None:
        if backend is MetadataBackend.POSTGRESQL:
            conn.recv(8)
            conn.sendall(b"N")
        else:
            conn.sendall(b"\x4a\x00\x00\x00\x0a10.11.6-MariaDB\x00")
    return answer


ENDPOINTS = {"closed port": closed_port, "black hole": black_hole, "hang-up": hang_up}
SERVERS = [MetadataBackend.MYSQL, MetadataBackend.POSTGRESQL]


def _server_config(tmp_path: Path, backend: MetadataBackend, port: int):
    """A small taxi config whose metadata lives on a server at 127.0.0.1:port."""
    return small_config(tmp_path, metadata_backend=backend, metadata_host="127.0.0.1",
                        metadata_port=port, metadata_user="pipeline")


@pytest.mark.parametrize("backend", SERVERS, ids=lambda b: b.value)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_probe_names_host_and_port_within_seconds(tmp_path, backend, endpoint) -> None:
    with ENDPOINTS[endpoint]() as port:
        config = _server_config(tmp_path, backend, port)
        started = time.monotonic()
        with pytest.raises(connection.MetadataUnreachable, match=f"127.0.0.1:{port}"):
            connection.probe_server(config, SHORT_PROBE)
        assert time.monotonic() - started < SHORT_PROBE + 0.5


@pytest.mark.parametrize("backend", SERVERS, ids=lambda b: b.value)
def test_probe_passes_a_server_that_answers(tmp_path, backend) -> None:
    with _serving(_greets(backend)) as port:
        connection.probe_server(_server_config(tmp_path, backend, port), SHORT_PROBE)


@pytest.mark.parametrize("endpoint", ["closed port", "black hole"])
def test_run_stops_before_any_component_naming_the_server(tmp_path, endpoint) -> None:
    config = small_config(tmp_path)
    served = fake_served_version(config)
    with ENDPOINTS[endpoint]() as port:
        started = time.monotonic()
        result = cli_run(config, "--metadata-backend", "mysql", "--metadata-host", "127.0.0.1",
                         "--metadata-port", str(port), "--metadata-user", "pipeline")
        seconds = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert seconds < LIMIT_SECONDS, f"took {seconds:.1f} s"
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: cannot open ML Metadata at mysql://pipeline@127.0.0.1:")
    assert f"127.0.0.1:{port}" in line and "Traceback" not in result.stderr
    assert "pre-flight" not in result.stdout, "nothing ran before the probe"
    assert not config.pipeline_root.exists() and not config.log_dir.exists()
    assert (served / "saved_model.pb").read_bytes() == b"model v1"
