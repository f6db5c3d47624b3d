"""One launcher per Airflow home, with real processes: a second `python -m pipeline airflow` on a
held home says who holds it and exits before touching anything; what a SIGKILLed launcher left
running is stopped by the next one, and only if it is still the same process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline.config import PROJECT_ROOT
from pipeline.services import launcher_lock

HOLDER = """
import sys, subprocess, time
from pathlib import Path
from pipeline.services import launcher_lock

home = Path(sys.argv[1])
with launcher_lock.held(home, "http://127.0.0.1:8089"):
    child = subprocess.Popen(["sleep", "600"], start_new_session=True)
    launcher_lock.record_children(home, [child.pid])
    print(child.pid, flush=True)
    time.sleep(600)
"""


def _holder(home: Path) -> tuple[subprocess.Popen, int]:
    """A launcher stand-in holding the home's lock with one child in its own session."""
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(home)], cwd=PROJECT_ROOT,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, int(process.stdout.readline())


def _alive(pid: int) -> bool:
    return launcher_lock.process_start(pid) is not None and "Z" not in Path(
        f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[:1]


def test_a_second_launch_on_a_held_home_refuses_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "airflow"
    holder, child = _holder(home)
    try:
        before = sorted(p.name for p in home.iterdir())
        started = time.monotonic()
        second = subprocess.run(
            [sys.executable, "-m", "pipeline", "airflow", "--home", str(home), "--port", "8090"],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
            env={**os.environ, "PATH": "/nonexistent"})  # it must not even look for a program
        assert second.returncode == 3, second.stderr
        assert second.stderr.strip() == (
            f"error: Airflow is already running on {home}: launcher pid {holder.pid}, UI "
            f"http://127.0.0.1:8089; stop it there (Ctrl-C, or kill {holder.pid}) or pass "
            "another --home")
        assert holder.poll() is None and _alive(child)
        assert sorted(p.name for p in home.iterdir()) == before
        print(f"second launch refused in {time.monotonic() - started:.1f} s")
    finally:
        holder.kill()
        os.killpg(child, signal.SIGKILL)


def test_the_next_launch_stops_what_a_killed_launcher_left(tmp_path: Path) -> None:
    home = tmp_path / "airflow"
    holder, child = _holder(home)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert _alive(child), "the child outlives a SIGKILLed launcher"
    with launcher_lock.held(home, "http://127.0.0.1:8091"):
        assert launcher_lock.stop_orphans(home) == [child]
    assert not _alive(child)
    assert not (home / launcher_lock.CHILDREN_FILE).exists()


def test_a_recorded_pid_now_naming_another_process_is_left_alone(tmp_path: Path) -> None:
    home = tmp_path / "airflow"
    home.mkdir()
    stranger = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        (home / launcher_lock.CHILDREN_FILE).write_text(
            f'[{{"pid": {stranger.pid}, "start": "1"}}]\n')  # started at another time
        with launcher_lock.held(home, "http://127.0.0.1:8092"):
            assert launcher_lock.stop_orphans(home) == []
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_the_lock_is_free_once_its_holder_is_gone(tmp_path: Path) -> None:
    home = tmp_path / "airflow"
    holder, child = _holder(home)
    holder.kill()
    holder.wait()
    os.killpg(child, signal.SIGKILL)
    with launcher_lock.held(home, "http://127.0.0.1:8093"):
        text = (home / launcher_lock.LOCK_FILE).read_text()
        assert f'"pid": {os.getpid()}' in text
    assert oct((home / launcher_lock.LOCK_FILE).stat().st_mode & 0o777) == "0o600"
