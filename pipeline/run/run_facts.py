"""The run context: what a run is made of, computed once when the pipeline is constructed."""

from __future__ import annotations

import dataclasses
import enum
import json
import subprocess
from importlib import metadata
from pathlib import Path

from pipeline.config import PROJECT_ROOT, PipelineConfig, SpanSelection, location, parse_spans
from pipeline.data import fingerprints, spans
from pipeline.data.fingerprints import file_sha256, schema_fingerprint, user_code_fingerprint

LOCK_FILE = PROJECT_ROOT / "uv.lock"


PIPELINE_CODE_DIR = PROJECT_ROOT / "pipeline"


TRACKED_PACKAGES = (
    "tfx", "tensorflow", "tensorflow-transform", "tensorflow-model-analysis",
    "tensorflow-data-validation", "apache-beam", "ml-metadata", "tf-keras",
)


def git_commit(root: Path = PROJECT_ROOT) -> dict[str, object]:
    """HEAD commit and whether tracked files differ from it; 'unknown' outside a git checkout."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no")) if commit else False
    return {"commit": commit or "unknown", "dirty": dirty}


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that shape the model."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


# Never recorded in MLMD: a server password comes from the environment of each run.
SECRET_FIELDS = frozenset({"metadata_password"})


def config_record(config: PipelineConfig) -> dict[str, object]:
    """The config as JSON-friendly values (paths as strings), enough to rebuild it; no secrets."""
    record = {}
    for field in dataclasses.fields(config):
        if field.name in SECRET_FIELDS:
            continue
        value = getattr(config, field.name)
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, SpanSelection):
            value = str(value)
        elif isinstance(value, tuple):
            value = list(value)
        record[field.name] = value
    return record


def config_from_record(record: dict[str, object]) -> PipelineConfig:
    """Inverse of config_record: typed values back from JSON."""
    defaults = {f.name: f.default for f in dataclasses.fields(PipelineConfig)}
    values: dict[str, object] = {}
    for name, value in record.items():
        if name not in defaults or name in SECRET_FIELDS:
            continue
        default = defaults[name]
        if name == "schema_path":
            value = Path(value) if value is not None else None
        elif isinstance(default, Path):
            value = location(value)
        elif isinstance(default, enum.Enum):
            value = type(default)(value)
        elif isinstance(default, SpanSelection):
            value = parse_spans(value)
        elif name == "extra_beam_args":
            value = tuple(value)
        values[name] = value
    return PipelineConfig(**values)


def data_record(config: PipelineConfig, window: tuple[int, ...]) -> dict[str, object]:
    """The spans a run reads and a fingerprint of all their files' bytes.

    One span (or a plain folder) records exactly what it always did; a window of several spans
    records `data_span` as the range that selects it again ('2-4') and `data_spans` as the list.
    """
    files = [f for folder in spans.input_folders(config.data_dir, window)
             for f in sorted(folder.glob("*.csv"))]
    record: dict[str, object] = {
        "data_dir": str(config.data_dir),
        "data_span": spans.window_text(window) if window else "none",
        "data_files": [str(f) for f in files],
        "data_fingerprint": fingerprints.data_fingerprint(files),
    }
    if len(window) == 1:
        record["data_span"] = window[0]
    elif window:
        record["data_spans"] = list(window)
    return record


def run_context(config: PipelineConfig, window: tuple[int, ...]) -> dict[str, object]:
    """Everything that identifies a run's inputs, for MLMD and `reproduce`."""
    git = git_commit()
    lock = file_sha256(LOCK_FILE) if LOCK_FILE.is_file() else "none"
    return {
        **data_record(config, window),
        "git_commit": git["commit"],
        "git_dirty": git["dirty"],
        "code_fingerprint": user_code_fingerprint(),
        # The orchestration code too: an uncommitted edit to it leaves git_commit unchanged.
        "pipeline_code_fingerprint": user_code_fingerprint(PIPELINE_CODE_DIR),
        "schema_fingerprint": schema_fingerprint(config),
        "uv_lock_sha256": lock,
        "packages": package_versions(),
        "config": config_record(config),
    }


def context_json(context: dict[str, object]) -> str:
    """Stable JSON text of a run context."""
    return json.dumps(context, sort_keys=True)
