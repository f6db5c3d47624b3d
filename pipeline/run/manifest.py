"""A run's manifest: what a run is made of, computed once per run by its runner, before it runs.

`compute(config)` reads the data, the code, the lock file, git and the installed packages once
and returns a frozen RunManifest (pipeline.vocabulary); the graph
(pipeline.graph.pipeline_graph.create_pipeline) only wires what it is given. `graph_inputs(config)`
is the cheap part the graph's wiring needs (the span window and the code and schema fingerprints
that are TFX cache keys) for an orchestrator that builds the graph far more often than it runs it
(Airflow parses its DAG file every few minutes).
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from pipeline.config import PROJECT_ROOT, PipelineConfig, is_uri
from pipeline.config.record import config_record
from pipeline.data import fingerprints, input_files, spans
from pipeline.data.fingerprints import (
    code_fingerprint,
    config_code_fingerprint,
    file_sha256,
    schema_fingerprint,
    user_code_fingerprint,
)
from pipeline.vocabulary import EXAMPLE_GEN, GraphInputs, RunManifest

LOCK_FILE = PROJECT_ROOT / "uv.lock"


PIPELINE_CODE_DIR = PROJECT_ROOT / "pipeline"


# The data fingerprint of a URI data_dir (only the cluster reads it; ExampleGen fingerprints it).
REMOTE_DATA_FINGERPRINT = f"remote: see {EXAMPLE_GEN}'s input_fingerprint"


TRACKED_PACKAGES = (
    "tfx", "tensorflow", "tensorflow-transform", "tensorflow-model-analysis",
    "tensorflow-data-validation", "apache-beam", "ml-metadata", "tf-keras",
)


def git_commit(root: Path = PROJECT_ROOT, paths: Sequence[Path] = ()) -> dict[str, object]:
    """HEAD commit, and whether any of `paths` (the whole checkout when none) is modified,
    staged, deleted or untracked; 'unknown' outside a git checkout."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)
        return done.stdout.strip() if done.returncode == 0 else ""

    inside = [str(p.resolve().relative_to(root.resolve())) for p in paths
              if p.resolve().is_relative_to(root.resolve())]
    commit = git("rev-parse", "HEAD")
    if not commit or (paths and not inside):
        return {"commit": commit or "unknown", "dirty": False}
    status = git("status", "--porcelain", "--untracked-files=all", "--", *inside)
    return {"commit": commit, "dirty": bool(status)}


def project_paths(config: PipelineConfig) -> list[Path]:
    """What a project's runs read from the checkout: its folder, its code closure (shared code
    and the platform modules it imports), the platform, the schema and the lock file."""
    declaration = config.declaration
    files = fingerprints.project_files(config.models_dir, config.project,
                                       (declaration.preprocessing_fn, declaration.run_fn))
    extra = [config.schema_path] if config.schema_path is not None else []
    return [config.models_dir / config.project, *files, PIPELINE_CODE_DIR, LOCK_FILE, *extra]


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that shape the model."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def graph_inputs(config: PipelineConfig, window: tuple[int, ...] | None = None) -> GraphInputs:
    """What the graph's wiring needs: lists span folders and hashes the user code, the
    declarations and the curated schema (a few small files); reads no data file and runs no git."""
    if window is None:
        window = spans.resolve_spans(spans.local_data_dir(config), config.spans)
    project = config.declaration
    return GraphInputs(
        window=window,
        code_fingerprint=config_code_fingerprint(config),
        schema_fingerprint=schema_fingerprint(config),
        preprocessing_code_fingerprint=code_fingerprint(project.preprocessing_fn),
        model_code_fingerprint=code_fingerprint(project.run_fn),
    )


def lock_sha256(lock_file: Path = LOCK_FILE) -> str:
    """sha256 of uv.lock, or 'none' without one."""
    return file_sha256(lock_file) if lock_file.is_file() else "none"


def compute(config: PipelineConfig, window: tuple[int, ...] | None = None) -> RunManifest:
    """Read everything a run reads, once: data files, code, schema, lock file, git, packages.

    `window` is the resolved span window when the caller has it, else resolved from the config
    (which needs a local data_dir). Files under a URI data_dir are not read here: their
    fingerprint is CsvExampleGen's, recorded in ML Metadata when the cluster runs it.
    """
    graph = graph_inputs(config, window)
    git = git_commit(PROJECT_ROOT, project_paths(config))
    if is_uri(config.data_dir):
        files, fingerprint = [], REMOTE_DATA_FINGERPRINT
    else:
        files = [f for folder in spans.input_folders(Path(config.data_dir), graph.window)
                 for f in input_files.data_files(folder)]
        fingerprint = fingerprints.data_fingerprint(files)
    return RunManifest(
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


def compute_run_context(config: PipelineConfig, window: tuple[int, ...]) -> dict[str, object]:
    """Everything that identifies a run's inputs, computed now, for MLMD and `reproduce`."""
    return compute(config, window).run_context(config_record(config))


def compute_run_context_json(config: PipelineConfig, window: tuple[int, ...]) -> str:
    """The run context of this config and window as RecordRunContext stores it, computed now."""
    return compute(config, window).run_context_json(config_record(config))
