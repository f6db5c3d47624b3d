"""TF Serving's model directory layout: version listing, fingerprints and atomic publishing."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Collection
from pathlib import Path

from pipeline.vocabulary import DECISION_THRESHOLD_FILE, EXTRA_ASSETS_DIR, DecisionThreshold

PUSH_RECORD = "push_record.json"
ASSETS_EXTRA = EXTRA_ASSETS_DIR
STAGING_PREFIX = ".staging-"
OWNER_FILE = ".push-owner.json"
# A staging folder another host (or an unknown writer) owns is removed only after this long:
# no push copies a model for a day, and a shared volume gives no way to ask a remote host's PIDs.
STALE_PUSH_SECONDS = 24 * 3600


def model_base_path(serving_dir: Path, model_name: str) -> Path:
    """The base path TF Serving polls for one model."""
    return serving_dir / model_name


def list_versions(base_path: Path) -> list[int]:
    """Version numbers TF Serving would load: integer folders holding a saved_model.pb."""
    if not base_path.is_dir():
        return []
    return sorted(
        int(child.name)
        for child in base_path.iterdir()
        if child.name.isdigit() and (child / "saved_model.pb").is_file()
    )


def unrecorded_versions(base_path: Path, recorded: Collection[str]) -> list[int]:
    """Versions on disk under base_path that ML Metadata does not record (`recorded`: the pushed
    versions it knows): a store that lost them must not make them invisible."""
    return [v for v in list_versions(base_path) if str(v) not in recorded]


def model_fingerprint(model_dir: Path) -> str:
    """Content hash of a SavedModel and its decision threshold, ignoring the rest of assets.extra
    where pushes add their own files (a new threshold on the same network is a new model)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        relative = path.relative_to(model_dir)
        if relative.parts[0] == ASSETS_EXTRA and relative.parts[1:] != (DECISION_THRESHOLD_FILE,):
            continue
        digest.update(str(relative).encode())
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def read_push_record(version_dir: Path) -> dict:
    """The record a push left beside the model (empty for versions pushed by other tools)."""
    record = version_dir / ASSETS_EXTRA / PUSH_RECORD
    return json.loads(record.read_text()) if record.is_file() else {}


def decision_threshold(version_dir: Path) -> DecisionThreshold | None:
    """The threshold the Trainer chose for a binary model, from its assets.extra (None: a model
    exported before thresholds were recorded, by a project's own run_fn, or the file is damaged)."""
    path = version_dir / ASSETS_EXTRA / DECISION_THRESHOLD_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return DecisionThreshold.from_json(text)


def version_with_fingerprint(base_path: Path, fingerprint: str) -> int | None:
    """The served version whose model has this content, so a re-run never pushes a duplicate."""
    for version in reversed(list_versions(base_path)):
        if read_push_record(base_path / str(version)).get("fingerprint") == fingerprint:
            return version
    return None


def _no_extras(extra_dir: Path) -> None:
    """Default for publish: nothing beyond the push record."""


def publish(
    model_dir: Path,
    base_path: Path,
    record: dict,
    write_extras: Callable[[Path], object] = _no_extras,
) -> tuple[int, Path]:
    """Copy into a hidden staging folder, then rename it to the next version number.

    TF Serving only considers integer-named folders, and a rename within one file system is
    atomic, so a server never sees a half-written version. `write_extras` adds files (such as
    warmup requests) to the staged assets.extra before the rename; if anything fails, the
    staging folder is removed and no version appears.
    """
    base_path.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(base_path)
    staging = base_path / f"{STAGING_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"
    try:
        staging.mkdir()
        _write_owner(staging)
        shutil.copytree(model_dir, staging, dirs_exist_ok=True)
        extra = staging / ASSETS_EXTRA
        extra.mkdir(exist_ok=True)
        write_extras(extra)
        (extra / PUSH_RECORD).write_text(json.dumps(record, indent=2, sort_keys=True))
        (staging / OWNER_FILE).unlink()
        return _rename_to_next_version(staging, base_path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _process_start(pid: int) -> str:
    """The kernel's start time of a process (clock ticks since boot), so a reused PID differs."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]


def _write_owner(staging: Path) -> None:
    """Record who is pushing (host, PID, process start, wall time) so no other host's cleanup
    mistakes the push in progress for a dead one."""
    owner = {"host": socket.gethostname(), "pid": os.getpid(),
             "process_start": _process_start(os.getpid()), "started": time.time()}
    (staging / OWNER_FILE).write_text(json.dumps(owner))


def _process_alive(pid: int) -> bool:
    """Whether a process with this PID exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_owner(staging: Path) -> dict:
    """The owner record of a staging folder; empty when missing or unreadable (not yet written)."""
    try:
        owner = json.loads((staging / OWNER_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return owner if isinstance(owner, dict) else {}


def _age_seconds(staging: Path, owner: dict) -> float:
    """How long ago the push started, by the later of its recorded start and the files' mtimes
    (a remote host's clock may run behind)."""
    times = [p.stat().st_mtime for p in (staging, staging / OWNER_FILE) if p.exists()]
    started = owner.get("started")
    if isinstance(started, (int, float)):
        times.append(float(started))
    return time.time() - max(times, default=0.0)


def is_abandoned(staging: Path) -> bool:
    """A push of this host whose process is gone (or whose PID now names another process), or
    any push older than STALE_PUSH_SECONDS; another host's recent push is never abandoned."""
    owner = _read_owner(staging)
    if _age_seconds(staging, owner) > STALE_PUSH_SECONDS:
        return True
    pid = owner.get("pid")
    if owner.get("host") != socket.gethostname() or not isinstance(pid, int):
        return False
    return not _process_alive(pid) or owner.get("process_start") != _process_start(pid)


def remove_stale_staging(base_path: Path) -> list[Path]:
    """Delete staging folders of abandoned pushes (killed mid-copy), keep every live one."""
    removed = []
    for child in base_path.iterdir():
        if child.name.startswith(STAGING_PREFIX) and is_abandoned(child):
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child)
    return removed


def _rename_to_next_version(staging: Path, base_path: Path) -> tuple[int, Path]:
    """Claim the next free version number; a concurrent push makes us take the one after."""
    version = max(list_versions(base_path) + [_existing_number(base_path)], default=0) + 1
    for _ in range(100):
        target = base_path / str(version)
        try:
            os.rename(staging, target)
            return version, target
        except OSError:
            version += 1
    raise RuntimeError(f"could not claim a version folder under {base_path}")


def _existing_number(base_path: Path) -> int:
    """Highest integer folder name, complete or not, so a number is never reused."""
    numbers = [int(c.name) for c in base_path.iterdir() if c.name.isdigit()]
    return max(numbers, default=0)


def push_record(model_uri: str, fingerprint: str) -> dict:
    """What each version records about where it came from."""
    return {
        "fingerprint": fingerprint,
        "model_uri": model_uri,
        "pushed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
