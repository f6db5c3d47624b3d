"""Cleanup of interrupted pushes on a shared serving volume: only abandoned pushes go."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from pipeline.serving import layout

HOUR = 3600.0


def _dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _staging(base: Path, name: str, owner: dict | None, age: float = 0.0) -> Path:
    """A half-copied staging folder with an owner record written `age` seconds ago."""
    staging = base / f"{layout.STAGING_PREFIX}{name}"
    staging.mkdir(parents=True)
    (staging / "saved_model.pb").write_bytes(b"half")
    if owner is not None:
        (staging / layout.OWNER_FILE).write_text(
            json.dumps({"started": time.time() - age, **owner}))
    stamp = time.time() - age
    for path in (staging, staging / layout.OWNER_FILE, staging / "saved_model.pb"):
        if path.exists():
            os.utime(path, (stamp, stamp))
    return staging


def _this_process() -> dict:
    """Owner fields of a push by this very process."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid,
            "process_start": layout._process_start(pid)}


@pytest.mark.parametrize(
    ("case", "owner", "age", "removed"),
    [
        ("own host, process gone", lambda: {**_this_process(), "pid": _dead_pid()}, 0, True),
        ("own host, process alive", _this_process, 0, False),
        ("own host, PID reused by another process",
         lambda: {**_this_process(), "process_start": "1"}, 0, True),
        ("other host, PID alive here", lambda: {**_this_process(), "host": "node-b"}, 0, False),
        ("other host, PID dead here",
         lambda: {**_this_process(), "host": "node-b", "pid": _dead_pid()}, 0, False),
        ("other host, one hour old",
         lambda: {**_this_process(), "host": "node-b", "pid": _dead_pid()}, HOUR, False),
        ("other host, older than the stale age",
         lambda: {**_this_process(), "host": "node-b"}, layout.STALE_PUSH_SECONDS + HOUR, True),
        ("owner not written yet", lambda: None, 0, False),
        ("owner unreadable", lambda: "not json", 0, False),
        ("owner not written, older than the stale age", lambda: None,
         layout.STALE_PUSH_SECONDS + HOUR, True),
    ],
)
def test_cleanup_removes_only_abandoned_pushes(tmp_path, case, owner, age, removed) -> None:
    base = tmp_path / "serving" / "taxi"
    record = owner()
    staging = _staging(base, "x", record if isinstance(record, dict) or record is None else {}, age)
    if isinstance(record, str):
        (staging / layout.OWNER_FILE).write_text(record)
        os.utime(staging, (time.time() - age,) * 2)
    assert layout.remove_stale_staging(base) == ([staging] if removed else []), case
    assert staging.exists() is not removed, case


def test_publish_keeps_another_hosts_push_in_progress(tmp_path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "saved_model.pb").write_bytes(b"model")
    base = tmp_path / "serving" / "taxi"
    remote = _staging(base, "remote", {"host": "node-b", "pid": _dead_pid(), "process_start": "9"})
    mine = _staging(base, "mine", {**_this_process(), "pid": _dead_pid()})
    version, target = layout.publish(model, base, {"fingerprint": "f"})
    assert version == 1 and remote.is_dir() and not mine.exists()
    assert sorted(p.name for p in target.iterdir()) == ["assets.extra", "saved_model.pb"], \
        "the owner record never reaches a published version"
