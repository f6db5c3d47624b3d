"""One local run at a time per pipeline root and per MLMD store: a second run refuses at once.

The lock is an flock on a file that records the holder's PID. The kernel releases an flock when
its process dies, even by SIGKILL, so a lock left by a dead run never blocks the next one.
A URI pipeline root (gs://...) has no local file to lock: its lock lives on this machine, beside
the metadata store, named by a hash of the URI. That excludes runs from this machine only; runs
from several machines need their orchestrator's own exclusivity (docs/scaling.md).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from pipeline.config import Location, is_uri
from pipeline.errors import Locked

LOCK_FILE = ".run.lock"
URI_LOCKS_DIR = "locks"


class RunLockedError(Locked):
    """Another live run holds the lock; the message names its PID and the lock file."""


def lock_paths(pipeline_root: Location, metadata_path: Path) -> list[Path]:
    """The pipeline root's lock, and one beside the SQLite store (shared by every pipeline root)."""
    return [root_lock_path(pipeline_root, metadata_path),
            metadata_path.with_name(metadata_path.name + ".lock")]


def root_lock_path(pipeline_root: Location, metadata_path: Path) -> Path:
    """A local root locks a file inside it; a URI root (no local file to flock) locks a file
    beside the metadata store named by the URI's hash, so the same URI always maps to it."""
    if not is_uri(pipeline_root):
        return Path(pipeline_root) / LOCK_FILE
    key = hashlib.sha256(str(pipeline_root).rstrip("/").encode()).hexdigest()[:16]
    return metadata_path.parent / URI_LOCKS_DIR / f"pipeline-root-{key}.lock"


def holder_pid(path: Path, wait_seconds: float = 2.0) -> str:
    """The PID the holder writes right after locking (a run that started at the same instant
    may not have written it yet: wait briefly for the full line)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        with contextlib.suppress(OSError):
            text = path.read_text()
            if text.endswith("\n"):
                return text.strip()
        if time.monotonic() > deadline:
            return "unknown"
        time.sleep(0.05)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive, non-blocking flock on `path` with our PID written in it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            raise RunLockedError(
                f"another run (pid {holder_pid(path)}) is using this pipeline: {path} is locked; "
                "wait for it to finish or use another --pipeline-root and --metadata"
            ) from error
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def run_lock(pipeline_root: Location, metadata_path: Path) -> Iterator[None]:
    """Hold both locks for the duration of a run."""
    with contextlib.ExitStack() as stack:
        for path in lock_paths(pipeline_root, metadata_path):
            stack.enter_context(_locked(path))
        yield
