"""TF Serving's model directory layout: version listing, fingerprints and atomic publishing."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

PUSH_RECORD = "push_record.json"
ASSETS_EXTRA = "assets.extra"
STAGING_PREFIX = ".staging-"


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


def model_fingerprint(model_dir: Path) -> str:
    """Content hash of a SavedModel, ignoring assets.extra where pushes add their own files."""
    digest = hashlib.sha256()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        relative = path.relative_to(model_dir)
        if relative.parts[0] == ASSETS_EXTRA:
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
        shutil.copytree(model_dir, staging)
        extra = staging / ASSETS_EXTRA
        extra.mkdir(exist_ok=True)
        write_extras(extra)
        (extra / PUSH_RECORD).write_text(json.dumps(record, indent=2, sort_keys=True))
        return _rename_to_next_version(staging, base_path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    """Whether a process with this PID exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(base_path: Path) -> list[Path]:
    """Delete staging folders of pushes whose process died (killed mid-copy), keep live ones."""
    removed = []
    for child in base_path.iterdir():
        pid_text = child.name[len(STAGING_PREFIX):].split("-", 1)[0]
        if child.name.startswith(STAGING_PREFIX) and pid_text.isdigit():
            if not _process_alive(int(pid_text)):
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
