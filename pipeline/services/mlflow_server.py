"""MLflow's server and UI over the mirror's local store, on 127.0.0.1, until Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import NoReturn

from pipeline.mirror.settings import MirrorError, MirrorSettings

HOST = "127.0.0.1"


# Measured: 15 s on an idle 2-core machine, over a minute while other jobs load it.
STARTUP_TIMEOUT_S = 240.0


# The server's background job runner (GenAI evaluation jobs) has nothing to do for this view.
SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def server_command(settings: MirrorSettings, port: int) -> list[str]:
    """`mlflow server`, one worker, reachable from this machine only; the store's URI (which may
    hold a password) is not on the command line, where any user could read it: see server_env."""
    command = [sys.executable, "-m", "pipeline.services.mlflow_cli", "server",
               "--host", HOST, "--port", str(port), "--workers", "1"]
    if settings.artifact_root:
        command += ["--default-artifact-root", settings.artifact_root]
    return command


def server_env(settings: MirrorSettings) -> dict[str, str]:
    """The server's environment: the store's URI in MLFLOW_BACKEND_STORE_URI (`mlflow server`
    reads its --backend-store-uri from it; a process's environment is readable by its owner only)."""
    return {**os.environ, **SERVER_ENV, "MLFLOW_BACKEND_STORE_URI": settings.tracking_uri}


def start(settings: MirrorSettings, port: int, quiet: bool = False) -> subprocess.Popen:
    """Start the server; `quiet` sends its access log to /dev/null (tests)."""
    output = subprocess.DEVNULL if quiet else None
    return subprocess.Popen(server_command(settings, port), stdin=subprocess.DEVNULL, stdout=output,
                            stderr=output, env=server_env(settings))


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((HOST, port)) != 0


def _healthy(port: int) -> bool:
    """MLflow's /health answers 200 once the app (not only the socket) is up."""
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def wait_until_up(process: subprocess.Popen, port: int, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
    """Block until the server answers; MirrorError if it exits or takes too long."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise MirrorError(f"mlflow server exited with code {process.returncode} before serving")
        if _healthy(port):
            return
        time.sleep(0.5)
    raise MirrorError(f"mlflow server did not answer on {HOST}:{port} within {timeout_s:.0f} s")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the server (and its workers), SIGKILL only if it does not exit."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _interrupt(signum: int, frame: object) -> NoReturn:
    """SIGTERM stops the UI the way Ctrl-C does."""
    raise KeyboardInterrupt


def serve(settings: MirrorSettings, port: int, page: str = "") -> int:
    """Run the UI until Ctrl-C, naming the URL of `page` (a path of the UI, e.g. a project's
    runs); a server elsewhere (http URI) is only named."""
    if settings.local_dir is None and settings.tracking_uri.startswith(("http://", "https://")):
        print(f"ui          {settings.location.rstrip('/')}/{page} (the tracking server's own UI)")
        return 0
    if not _port_free(port):
        raise MirrorError(f"port {port} on {HOST} is in use: pass --port P")
    process = start(settings, port)
    try:
        wait_until_up(process, port)
        print(f"ui          http://{HOST}:{port}/{page}  (Ctrl-C stops it)", flush=True)
        signal.signal(signal.SIGTERM, _interrupt)
        if process.wait() != 0:
            raise MirrorError(f"mlflow server stopped with code {process.returncode}")
    except KeyboardInterrupt:
        print("ui          stopped")
    finally:
        stop(process)
    return 0
