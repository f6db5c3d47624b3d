"""One `python -m pipeline airflow` per Airflow home, and no orphans after a crashed one.

The launcher holds an flock on HOME/launcher.lock for its lifetime and writes its pid and UI URL
into it; a second launch on that home reads them, says one is running and exits without touching
anything (the first one's database above all). The kernel releases the lock when the launcher
dies, even by SIGKILL, but its scheduler and web UI run in sessions of their own and survive: the
launcher records each one's pid and start time in HOME/launcher.children.json, and the next
launch, holding the lock, stops those that are still the same processes (a pid reused by another
process has another start time) before it starts its own. Its PostgreSQL cluster is stopped and
restarted by postgres_server.start, which only the lock holder calls.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from pipeline.errors import Locked

LOCK_FILE = "launcher.lock"
CHILDREN_FILE = "launcher.children.json"
STOP_SECONDS = 30.0


class LauncherRunning(Locked):
    """Another launcher holds the home; the message names its pid and URL."""


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22): with the
    pid, it names one process; None when no such process exists."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _holder(path: Path, wait_seconds: float = 2.0) -> dict:
    """What the holder wrote (it writes right after locking: wait briefly for the whole line)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        with contextlib.suppress(OSError, ValueError):
            text = path.read_text()
            if text.endswith("\n"):
                record = json.loads(text)
                return record if isinstance(record, dict) else {}
        if time.monotonic() > deadline:
            return {}
        time.sleep(0.05)


def holder(home: Path) -> dict | None:
    """The running launcher's record (pid, url) when one holds the home, else None."""
    path = home / LOCK_FILE
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder(path)
    finally:
        os.close(descriptor)
    return None


@contextlib.contextmanager
def held(home: Path, url: str) -> Iterator[None]:
    """Hold the home's launcher lock, or raise LauncherRunning naming the holder."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / LOCK_FILE
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(path)
            pid = holder.get("pid", "unknown")
            raise LauncherRunning(
                f"Airflow is already running on {home}: launcher pid {pid}, UI "
                f"{holder.get('url', 'unknown')}; stop it there (Ctrl-C, or kill {pid}) or pass "
                "another --home") from None
        os.ftruncate(descriptor, 0)
        os.write(descriptor, (json.dumps({"pid": os.getpid(), "url": url}) + "\n").encode())
        yield
    finally:
        os.close(descriptor)


def record_children(home: Path, pids: Sequence[int]) -> None:
    """Remember the processes this launcher started, for the next launch if this one crashes."""
    records = [{"pid": pid, "start": process_start(pid)} for pid in pids]
    staging = home / f"{CHILDREN_FILE}.tmp"
    staging.write_text(json.dumps(records) + "\n")
    os.replace(staging, home / CHILDREN_FILE)


def stop_orphans(home: Path) -> list[int]:
    """Stop what a dead launcher of this home left running (only while holding the lock);
    the pids stopped."""
    path = home / CHILDREN_FILE
    try:
        records = json.loads(path.read_text())
    except (OSError, ValueError):
        records = []
    alive = [r["pid"] for r in records if isinstance(r, dict) and isinstance(r.get("pid"), int)
             and r.get("start") is not None and process_start(r["pid"]) == r.get("start")]
    for pid in alive:
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while any(_exists(pid) for pid in alive) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in alive:
        _signal_group(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    return alive


def forget_children(home: Path) -> None:
    """This launcher stopped its processes itself: nothing is left for the next one."""
    (home / CHILDREN_FILE).unlink(missing_ok=True)


def _exists(pid: int) -> bool:
    """Whether the process still exists and is not a zombie waiting for its parent."""
    start = process_start(pid)
    if start is None:
        return False
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return False


def _signal_group(pid: int, signal_number: int) -> None:
    """Signal the process group the launcher started the process as (its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal_number)
