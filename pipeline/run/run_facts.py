"""The run context: what a run is made of, computed once per run by its runner.

`compute(config)` reads the data, the code, the lock file, git and the installed packages once
and returns a frozen RunFacts; the graph (pipeline.graph.pipeline_graph.create_pipeline) only
wires what it is given. `graph_facts(config)` is the cheap part the graph's wiring needs (the span
window and the code and schema fingerprints that are TFX cache keys) for an orchestrator that
builds the graph far more often than it runs it (Airflow parses its DAG file every few minutes).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from pipeline.config import (
    PROJECT_ROOT,
    PipelineConfig,
    SpanSelection,
    is_uri,
    location,
    parse_spans,
)
from pipeline.config.secrets import mask_beam_args, without_credentials
from pipeline.data import fingerprints, input_files, spans
from pipeline.data.fingerprints import (
    code_fingerprint,
    file_sha256,
    project_code_fingerprint,
    schema_fingerprint,
    user_code_fingerprint,
)

LOCK_FILE = PROJECT_ROOT / "uv.lock"


PIPELINE_CODE_DIR = PROJECT_ROOT / "pipeline"


# The data fingerprint of a URI data_dir (only the cluster reads it; ExampleGen fingerprints it).
REMOTE_DATA_FINGERPRINT = "remote: see CsvExampleGen's input_fingerprint"


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


# Never recorded in MLMD: a server password comes from the environment of each run (and the
# values of credential Beam options are masked, config_record).
SECRET_FIELDS = frozenset({"metadata_password"})
# Not part of what a run is: where it is mirrored changes no output, so it must not make an
# unchanged re-run look changed (nor be replayed by reproduce).
UNRECORDED_FIELDS = SECRET_FIELDS | {"tracking_uri"}


def config_record(config: PipelineConfig) -> dict[str, object]:
    """The config as JSON-friendly values (paths as strings), enough to rebuild it; no secrets:
    no password, credential Beam options masked."""
    record = {}
    for field in dataclasses.fields(config):
        if field.name in UNRECORDED_FIELDS or not field.init:
            continue
        value = getattr(config, field.name)
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, SpanSelection):
            value = str(value)
        elif field.name == "extra_beam_args":
            value = mask_beam_args(value)
        elif isinstance(value, tuple):
            value = list(value)
        record[field.name] = value
    return record


def config_from_record(record: Mapping[str, Any]) -> PipelineConfig:
    """Inverse of config_record: typed values back from JSON."""
    defaults = {f.name: f.default for f in dataclasses.fields(PipelineConfig)}
    values: dict[str, Any] = {}
    for name, value in record.items():
        if name not in defaults or name in UNRECORDED_FIELDS:
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
            value = tuple(without_credentials(value))
        elif name == "thresholds":
            value = tuple((str(m), float(v)) for m, v in value)
        values[name] = value
    return PipelineConfig(**values)


@dataclass(frozen=True)
class GraphFacts:
    """What the graph's wiring reads: the span window it pins ExampleGens to, and the
    fingerprints it passes as parameters so that TFX's cache sees edits to user code and schema.

    `code_fingerprint` covers all user code and declarations (lineage, reproduce, up to date);
    Transform's and the Trainer's cache keys are only the import closures of the code each runs
    (`preprocessing_code_fingerprint`, `model_code_fingerprint`), so an edit re-runs only its reader.
    """

    window: tuple[int, ...]
    code_fingerprint: str
    schema_fingerprint: str
    preprocessing_code_fingerprint: str
    model_code_fingerprint: str


@dataclass(frozen=True)
class RunFacts(GraphFacts):
    """Everything a run reads, computed once per run; `context` is what RecordRunContext records."""

    data_dir: str
    data_files: tuple[str, ...]
    data_fingerprint: str
    git_commit: str
    git_dirty: bool
    pipeline_code_fingerprint: str
    uv_lock_sha256: str
    packages: tuple[tuple[str, str], ...]

    def data_record(self) -> dict[str, object]:
        """The spans a run reads and a fingerprint of all their files' bytes.

        One span (or a plain folder) records exactly what it always did; a window of several
        spans records `data_span` as the range that selects it again ('2-4') and `data_spans`
        as the list.
        """
        window = self.window
        record: dict[str, object] = {
            "data_dir": self.data_dir,
            "data_span": spans.window_text(window) if window else "none",
            "data_files": list(self.data_files),
            "data_fingerprint": self.data_fingerprint,
        }
        if len(window) == 1:
            record["data_span"] = window[0]
        elif window:
            record["data_spans"] = list(window)
        return record

    def context(self, config: PipelineConfig) -> dict[str, object]:
        """Everything that identifies the run's inputs, for MLMD and `reproduce`."""
        return {
            **self.data_record(),
            "git_commit": self.git_commit,
            "git_dirty": self.git_dirty,
            "code_fingerprint": self.code_fingerprint,
            # The orchestration code too: an uncommitted edit to it leaves git_commit unchanged.
            "pipeline_code_fingerprint": self.pipeline_code_fingerprint,
            "schema_fingerprint": self.schema_fingerprint,
            "uv_lock_sha256": self.uv_lock_sha256,
            "packages": dict(self.packages),
            "config": config_record(config),
        }

    def context_json(self, config: PipelineConfig) -> str:
        """The run context as the text RecordRunContext stores."""
        return context_json(self.context(config))


def graph_facts(config: PipelineConfig, window: tuple[int, ...] | None = None) -> GraphFacts:
    """The facts the graph's wiring needs: lists span folders and hashes the user code, the
    declarations and the curated schema (a few small files); reads no data file and runs no git."""
    if window is None:
        window = spans.resolve_spans(spans.local_data_dir(config), config.spans)
    project = config.declaration
    return GraphFacts(
        window=window,
        code_fingerprint=project_code_fingerprint(
            config.models_dir, (project.preprocessing_fn, project.run_fn)),
        schema_fingerprint=schema_fingerprint(config),
        preprocessing_code_fingerprint=code_fingerprint(project.preprocessing_fn),
        model_code_fingerprint=code_fingerprint(project.run_fn),
    )


def lock_sha256(lock_file: Path = LOCK_FILE) -> str:
    """sha256 of uv.lock, or 'none' without one."""
    return file_sha256(lock_file) if lock_file.is_file() else "none"


def compute(config: PipelineConfig, window: tuple[int, ...] | None = None) -> RunFacts:
    """Read everything a run reads, once: data files, code, schema, lock file, git, packages.

    `window` is the resolved span window when the caller has it, else resolved from the config
    (which needs a local data_dir). Files under a URI data_dir are not read here: their
    fingerprint is CsvExampleGen's, recorded in ML Metadata when the cluster runs it.
    """
    graph = graph_facts(config, window)
    git = git_commit()
    if is_uri(config.data_dir):
        files, fingerprint = [], REMOTE_DATA_FINGERPRINT
    else:
        files = [f for folder in spans.input_folders(Path(config.data_dir), graph.window)
                 for f in input_files.data_files(folder)]
        fingerprint = fingerprints.data_fingerprint(files)
    return RunFacts(
        **dataclasses.asdict(graph),
        data_dir=str(config.data_dir),
        data_files=tuple(str(f) for f in files),
        data_fingerprint=fingerprint,
        git_commit=str(git["commit"]),
        git_dirty=bool(git["dirty"]),
        pipeline_code_fingerprint=user_code_fingerprint(PIPELINE_CODE_DIR),
        uv_lock_sha256=lock_sha256(),
        packages=tuple(package_versions().items()),
    )


def run_context(config: PipelineConfig, window: tuple[int, ...]) -> dict[str, object]:
    """Everything that identifies a run's inputs, for MLMD and `reproduce`."""
    return compute(config, window).context(config)


def context_json_for(config: PipelineConfig, window: tuple[int, ...]) -> str:
    """The run context of this config and window as RecordRunContext stores it, computed now."""
    return compute(config, window).context_json(config)


def context_json(context: dict[str, object]) -> str:
    """Stable JSON text of a run context."""
    return json.dumps(context, sort_keys=True)
