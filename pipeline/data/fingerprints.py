"""Content fingerprints of the files a run reads: data, user code and schema."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipeline.config import (
    PROJECT_ROOT,
    PipelineConfig,
)


def data_fingerprint(files: list[Path]) -> str:
    """sha256 over the file names and bytes a run reads, to detect altered inputs."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


USER_CODE_DIR = PROJECT_ROOT / "models"


def files_fingerprint(paths: list[Path], root: Path) -> str:
    """sha256 over file names and contents, so any edit changes it."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def user_code_fingerprint(code_dir: Path = USER_CODE_DIR) -> str:
    """Fingerprint of models/*.py: dotted-path user code is otherwise invisible to TFX's cache."""
    return files_fingerprint(list(code_dir.rglob("*.py")), code_dir)


def schema_fingerprint(config: PipelineConfig) -> str:
    """Fingerprint of the curated schema file, or 'inferred' when SchemaGen makes the schema."""
    if config.schema_path is None:
        return "inferred"
    return files_fingerprint([config.schema_path], config.schema_path.parent)
