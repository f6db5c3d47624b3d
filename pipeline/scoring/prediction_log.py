"""A project's prediction log: every scored row (id, model, version, label, outputs, the values of
the declared slice features, when, batch),
kept as JSON Lines under `<state>/predictions/<project>/`, one file per scoring batch.

Atomic per batch: a batch is written to a hidden `.NAME.partial` file, flushed to disk (fsync),
then renamed to `<scored_at>-<batch id>.jsonl`; a crash leaves at most a hidden partial file that
readers never open, so a batch is in the log whole or not at all. File names sort by time, so the
log reads oldest first; any tool that reads JSON Lines reads it (`cat *.jsonl`)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from pipeline.errors import WorkFailed

LOG_SUFFIX = ".jsonl"
PARTIAL_SUFFIX = ".partial"
# The keys of one record (feedback joins labels to the log by RECORD_ID; FEATURES holds the slice
# features' values feedback groups live metrics by).
RECORD_ID, MODEL, VERSION, LABEL, OUTPUTS, SCORED_AT, BATCH_ID, FEATURES = (
    "id", "model", "version", "label", "outputs", "scored_at", "batch_id", "features")


class PredictionLogError(WorkFailed):
    """A log file cannot be read; the message names the file and the line."""


def log_dir(state_dir: Path, project: str) -> Path:
    """Where a project's prediction log lives."""
    return state_dir / "predictions" / project


def batch_name(scored_at: str, batch_id: str) -> str:
    """`20260101T120000Z-<batch id>.jsonl`: names sort by time."""
    stamp = scored_at.replace("-", "").replace(":", "").split(".")[0].replace("+0000", "Z")
    return f"{stamp}-{batch_id}{LOG_SUFFIX}"


def stage_batch(folder: Path, name: str, records: Iterable[Mapping[str, object]]) -> Path:
    """Write a batch's records to a hidden partial file beside its final name, on disk (fsync)."""
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{name}{PARTIAL_SUFFIX}"
    text = "".join(json.dumps(record, sort_keys=True) + "\n" for record in records)
    with partial.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    return partial


def publish(partial: Path) -> Path:
    """Rename a staged file to its final name and make the rename durable."""
    final = partial.with_name(partial.name[1:].removesuffix(PARTIAL_SUFFIX))
    os.replace(partial, final)
    descriptor = os.open(partial.parent, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return final


def log_files(folder: Path, suffix: str = LOG_SUFFIX) -> list[Path]:
    """The folder's published batch files, oldest first (hidden partial files are not part of it)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"*{suffix}") if not p.name.startswith("."))


def read_file(path: Path) -> list[dict]:
    """One batch file's records; a truncated or unreadable line is an error naming file and line."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if number == len(lines):
            if line:
                raise PredictionLogError(f"{path}, line {number}: truncated last line (no end of "
                                         "line; a crash while it was written?)")
            break
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise PredictionLogError(f"{path}, line {number}: not a JSON record ({error.msg})") from None
        if not isinstance(record, dict):
            raise PredictionLogError(f"{path}, line {number}: not a JSON object")
        records.append(record)
    return records


def read_log(folder: Path) -> list[dict]:
    """Every record of a project's prediction log, oldest batch first."""
    return [record for path in log_files(folder) for record in read_file(path)]
