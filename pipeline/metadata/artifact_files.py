"""Reading artifact files for TF-free readers: local paths directly, URIs through TensorFlow's gfile.

TensorFlow is imported only when a URI (gs://, s3://, ram://, ...) is actually read, so the light
commands stay fast on local stores and still work on remote ones.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.config import is_uri


def _gfile():  # tf.io.gfile, imported on first remote read
    """TensorFlow's file system layer, which knows every registered scheme."""
    import tensorflow as tf

    return tf.io.gfile


def is_file(uri: str) -> bool:
    """Whether the artifact file exists and is not a folder."""
    if is_uri(uri):
        return _gfile().exists(uri) and not _gfile().isdir(uri)
    return Path(uri).is_file()


def is_dir(uri: str) -> bool:
    """Whether the artifact folder exists."""
    return _gfile().isdir(uri) if is_uri(uri) else Path(uri).is_dir()


def read_text(uri: str) -> str:
    """A UTF-8 artifact file's text."""
    if is_uri(uri):
        with _gfile().GFile(uri, "r") as handle:
            return handle.read()
    return Path(uri).read_text(encoding="utf-8")


def read_bytes(uri: str) -> bytes:
    """An artifact file's bytes."""
    if is_uri(uri):
        with _gfile().GFile(uri, "rb") as handle:
            return handle.read()
    return Path(uri).read_bytes()


def glob(folder: str, pattern: str) -> list[str]:
    """Files of an artifact folder matching a glob pattern, sorted."""
    if is_uri(folder):
        return sorted(_gfile().glob(f"{folder.rstrip('/')}/{pattern}"))
    return sorted(str(path) for path in Path(folder).glob(pattern))


@contextmanager
def local_folder(uri: str) -> Iterator[str]:
    """A local folder with the artifact folder's content: itself when local, else a temporary copy."""
    if not is_uri(uri):
        yield uri
        return
    with tempfile.TemporaryDirectory(prefix="artifact-") as scratch:
        for source_dir, _, files in _gfile().walk(uri):
            relative = os.path.relpath(source_dir, uri) if source_dir != uri else ""
            target = Path(scratch, relative)
            target.mkdir(parents=True, exist_ok=True)
            for name in files:
                _gfile().copy(f"{source_dir.rstrip('/')}/{name}", str(target / name), overwrite=True)
        yield scratch


def source_uri(uri: str) -> str:
    """A URI MLflow and others can store as a source: URIs unchanged, local paths as file:// URIs."""
    return uri if is_uri(uri) else Path(uri).resolve().as_uri()
