"""Run one command as a child process and measure it: wall time, CPU time, peak memory, load."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

SAMPLE_SECONDS = 0.5
MIB = 1024 * 1024


class MeasuredProcessError(RuntimeError):
    """The measured command failed or timed out; the message names it and its log."""


@dataclass(frozen=True)
class ProcessMeasure:
    """What one child process cost."""

    command: list[str]
    exit_code: int
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    peak_tree_rss_mib: float | None
    load_before: float
    load_after: float
    log: str
    # (unix time, process tree RSS in MiB) every SAMPLE_SECONDS: which component held the peak.
    samples: tuple[tuple[float, float], ...] = ()
    # Seconds the work the child left running on its own (the MLflow mirror `run` detaches) took
    # after the child exited: waited for, so it never runs into the next measurement.
    detached_seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        """Plain values for the results file (the memory samples stay out: they are long)."""
        values = asdict(self)
        del values["samples"]
        return values


def _tree_rss(pid: int) -> int | None:
    """Summed resident memory of a process and its descendants (None without psutil)."""
    try:
        import psutil
    except ImportError:
        return None
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue
    return total


def detached_children(since: float) -> list[int]:
    """Processes a measured child left behind on purpose: `mlflow-sync --after-run` started
    after `since` (unix time)."""
    try:
        import psutil
    except ImportError:
        return []
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "create_time"]):
        command = process.info["cmdline"] or []
        if ("mlflow-sync" in command and "--after-run" in command
                and (process.info["create_time"] or 0) >= since):
            found.append(process.info["pid"])
    return found


def wait_for_detached(since: float, timeout: float) -> float:
    """Wait until the detached work a child started has ended; the seconds waited."""
    started = time.monotonic()
    while detached_children(since) and time.monotonic() - started < timeout:
        time.sleep(SAMPLE_SECONDS)
    return round(time.monotonic() - started, 2)


def _kill_group(pid: int) -> None:
    """Stop the child and everything it started (it leads its own process group)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    os.waitpid(pid, 0)


def measure(
    command: Sequence[str], log_path: Path, cwd: Path, env: Mapping[str, str], timeout: float,
    accepted: tuple[int, ...] | None = (0,),
) -> ProcessMeasure:
    """Run `command` to completion, sampling its tree's memory; raise if its exit code is not
    one of `accepted` (None: every exit code is an answer, recorded with the measurement).

    os.wait4 returns the child's own resource usage, which includes every descendant it reaped,
    so ru_maxrss is the peak of the largest single process (Beam workers included).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    started_at = time.time()
    with log_path.open("w") as log:
        child = subprocess.Popen(
            list(command), cwd=cwd, env=dict(env), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        peak_tree: int | None = None
        samples: list[tuple[float, float]] = []
        try:
            while True:
                pid, status, usage = os.wait4(child.pid, os.WNOHANG)
                if pid:
                    break
                sample = _tree_rss(child.pid)
                peak_tree = None if sample is None else max(sample, peak_tree or 0)
                if sample is not None:
                    samples.append((round(time.time(), 2), round(sample / MIB, 1)))
                if time.monotonic() - started > timeout:
                    raise MeasuredProcessError(f"{command[:4]} timed out after {timeout:.0f} s")
                time.sleep(SAMPLE_SECONDS)
        except BaseException:
            _kill_group(child.pid)
            child.returncode = -1
            raise
        child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    detached = wait_for_detached(started_at, timeout)
    if accepted is not None and child.returncode not in accepted:
        raise MeasuredProcessError(
            f"{' '.join(command[:4])} ... exited with {child.returncode}; log: {log_path}"
        )
    return ProcessMeasure(
        command=list(command),
        exit_code=child.returncode,
        seconds=round(seconds, 2),
        cpu_seconds=round(usage.ru_utime + usage.ru_stime, 2),
        peak_rss_mib=round(usage.ru_maxrss * 1024 / MIB, 1),
        peak_tree_rss_mib=None if peak_tree is None else round(peak_tree / MIB, 1),
        load_before=round(load_before, 2),
        load_after=round(os.getloadavg()[0], 2),
        log=str(log_path),
        samples=tuple(samples),
        detached_seconds=detached,
    )
