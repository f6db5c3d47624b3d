"""`python -m pipeline airflow` is one launcher per home, with real processes: a second launch on a
running home refuses in one line and leaves the first one's UI and PostgreSQL up; a SIGKILLed
launcher's scheduler, UI and database are taken over by the next launch, which works; a double
Ctrl-C stops everything without a traceback; every listener is on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT
from pipeline.services import launcher_lock, postgres_server
from pipeline.services.postgres_server import LocalCluster, free_port
from tests.support.postgres import STARTUP_TIMEOUT_SECONDS, postgres_reachable_folder

pytestmark = pytest.mark.airflow

LOOPBACK = {"0100007F", "00000000000000000000000001000000", "0000000000000000FFFF00000100007F"}


def _launch(home: Path, port: int, console: Path) -> subprocess.Popen:
    """The command as a user starts it (without the TensorFlow preload: nothing runs a task)."""
    environ = {**os.environ, "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "3600",
               "PIPELINE_PROJECT": "taxi"}
    with console.open("w") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "pipeline", "airflow", "--home", str(home), "--port", str(port),
             "--no-preload"], cwd=PROJECT_ROOT, env=environ, stdout=output,
            stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for(console: Path, process: subprocess.Popen, text: str) -> None:
    """Until the command prints `text`; its console in the failure otherwise."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while text not in console.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"no {text!r} (exit {process.poll()}):\n{console.read_text()[-3000:]}")
        time.sleep(2)


def _healthy(port: int) -> bool:
    """The UI answers /health."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def _children(home: Path) -> list[int]:
    """The scheduler and UI pids the launcher recorded."""
    return [r["pid"] for r in json.loads((home / launcher_lock.CHILDREN_FILE).read_text())]


def _listening_addresses(process_groups: set[int]) -> set[str]:
    """Local addresses of the TCP sockets processes of these groups listen on (hex, /proc)."""
    inodes = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) not in process_groups:
                continue
            inodes |= {os.readlink(fd)[8:-1] for fd in (entry / "fd").iterdir()
                       if os.readlink(fd).startswith("socket:[")}
        except OSError:
            continue
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                addresses.add(fields[1].split(":")[0])
    return addresses


def _stop_twice(process: subprocess.Popen) -> int:
    """Two Ctrl-Cs a second apart, as an impatient user types them; the exit code."""
    process.send_signal(signal.SIGINT)
    time.sleep(1)
    process.send_signal(signal.SIGINT)
    return process.wait(180)


def _leave_nothing_running(home: Path, cluster: LocalCluster) -> None:
    """Whatever a failed assertion left behind: the recorded processes and the cluster."""
    if (home / launcher_lock.CHILDREN_FILE).exists():
        with launcher_lock.held(home, "test cleanup"):
            launcher_lock.stop_orphans(home)
    postgres_server.stop(cluster)


def test_one_launcher_per_home_survives_a_second_launch_and_a_kill() -> None:
    with postgres_reachable_folder("airflow-launcher-") as root:
        home, port = root / "home", free_port()
        cluster = LocalCluster(home / "state" / "postgres")
        try:
            _second_launch_and_kill(root, home, port, cluster)
        finally:
            _leave_nothing_running(home, cluster)


def _second_launch_and_kill(root: Path, home: Path, port: int, cluster: LocalCluster) -> None:
    """The test's steps (its caller stops what they leave if one fails)."""
    first = _launch(home, port, root / "first.txt")
    try:
        _wait_for(root / "first.txt", first, "Airflow UI")
        assert "alerts        none: no Airflow connection 'pipeline_alerts'" in (
            root / "first.txt").read_text()
        groups = set(_children(home)) | {int((cluster.data / "postmaster.pid")
                                             .read_text().split()[0])}
        addresses = _listening_addresses(groups)
        assert addresses and addresses <= LOOPBACK, addresses

        second = subprocess.run(
            [sys.executable, "-m", "pipeline", "airflow", "--home", str(home), "--port",
             str(free_port())], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
        assert second.returncode == 3
        assert second.stderr.strip() == (
            f"error: Airflow is already running on {home}: launcher pid {first.pid}, UI "
            f"http://127.0.0.1:{port}; stop it there (Ctrl-C, or kill {first.pid}) or pass "
            "another --home")
        assert postgres_server.running(cluster).query("airflow", "SELECT 1") == [(1,)]
        assert first.poll() is None and _healthy(port)

        orphans = _children(home)
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert _healthy(port), "a SIGKILLed launcher leaves its UI running"
    finally:
        if first.poll() is None:
            first.kill()
    relaunch = _launch(home, port, root / "relaunch.txt")
    try:
        _wait_for(root / "relaunch.txt", relaunch, "Airflow UI")
        console = (root / "relaunch.txt").read_text()
        assert f"pids {', '.join(map(str, orphans))})" in console
        assert all(launcher_lock.process_start(pid) is None for pid in orphans)
        assert _healthy(port)
    finally:
        code = _stop_twice(relaunch)
    console = (root / "relaunch.txt").read_text()
    assert code == 0 and "Traceback" not in console, console[-3000:]
    assert not (cluster.data / "postmaster.pid").exists()
    assert not (home / launcher_lock.CHILDREN_FILE).exists()
