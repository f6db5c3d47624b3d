"""Content fingerprints of the files a run reads: data, user code and schema.

Files are hashed in chunks (CHUNK_BYTES at a time), never read whole into memory; the digests
are those of whole-file reads (sha256 of the same bytes in the same order). The data fingerprint
length-prefixes each file's name, link target and size (a run recorded before that answers
"changed since run <id>: data_fingerprint" once).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from pipeline.config import (
    PROJECT_ROOT,
    PipelineConfig,
)

CHUNK_BYTES = 1 << 20


def update_with_file(digest: hashlib._Hash, path: Path, chunk_bytes: int = CHUNK_BYTES) -> None:
    """Feed a file's bytes to `digest` chunk by chunk: same result as digest.update(read_bytes())."""
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)


def file_sha256(path: Path) -> str:
    """sha256 of one file's bytes, streamed."""
    digest = hashlib.sha256()
    update_with_file(digest, path)
    return digest.hexdigest()


def _field(digest: hashlib._Hash, value: bytes) -> None:
    """Feed one length-prefixed value, so no two different file sets give the same stream."""
    digest.update(len(value).to_bytes(8, "big"))
    digest.update(value)


def data_fingerprint(files: list[Path]) -> str:
    """sha256 over each file's name, link target, size and bytes (length-prefixed): any added,
    removed, renamed, edited or retargeted file changes it. `files` come from
    pipeline.data.input_files, the set CsvExampleGen reads."""
    digest = hashlib.sha256()
    for path in sorted(files):
        _field(digest, path.name.encode("utf-8", "surrogateescape"))
        target = os.readlink(path) if path.is_symlink() else ""
        _field(digest, target.encode("utf-8", "surrogateescape"))
        digest.update(path.stat().st_size.to_bytes(8, "big"))
        update_with_file(digest, path)
    return digest.hexdigest()


USER_CODE_DIR = PROJECT_ROOT / "models"


def files_fingerprint(paths: list[Path], root: Path) -> str:
    """sha256 over file names and contents, so any edit changes it."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(root)).encode())
        update_with_file(digest, path)
    return digest.hexdigest()


def user_code_fingerprint(code_dir: Path = USER_CODE_DIR) -> str:
    """Fingerprint of the user code and declarations under models/ (*.py, project.yaml): code passed
    by dotted path is otherwise invisible to TFX's cache."""
    files = [*code_dir.rglob("*.py"), *code_dir.rglob("*.yaml")]
    return files_fingerprint([f for f in files if "__pycache__" not in f.parts], code_dir)


def schema_fingerprint(config: PipelineConfig) -> str:
    """Fingerprint of the curated schema file, or 'inferred' when SchemaGen makes the schema."""
    if config.schema_path is None:
        return "inferred"
    return files_fingerprint([config.schema_path], config.schema_path.parent)
