"""TensorFlow's in-memory `ram://` file system, for tests of code that must work on object stores.

TensorFlow (tf.io.gfile, and TFX's fileio on top of it) serves `ram://` in-process. Beam has no
such file system: its `FileSystems` resolve a scheme through subclasses of Beam's `FileSystem`,
so importing this module adds one that hands every call to tf.io.gfile. Beam's in-process
DirectRunner then reads and writes the same `ram://` files as TensorFlow does (a
multi-process runner would not: each process has its own memory).
"""

from __future__ import annotations

import io
import posixpath
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import tensorflow as tf
from apache_beam.io.filesystem import (
    BeamIOError,
    CompressedFile,
    CompressionTypes,
    FileMetadata,
    FileSystem,
)

SCHEME = "ram"
PREFIX = f"{SCHEME}://"


def fresh_root(name: str) -> str:
    """A new, empty ram:// folder; ram:// lives as long as the process, so each test takes its own."""
    root = f"{PREFIX}{name}-{uuid.uuid4().hex[:8]}"
    tf.io.gfile.makedirs(root)
    return root


def files_under(root: str) -> list[str]:
    """Every file under a ram:// (or local) folder. ram:// lists by name prefix (a folder `assets`
    also lists `.extra` of a sibling `assets.extra`): a listed name that is no file is left out."""
    paths = (posixpath.join(folder, name) for folder, _, names in tf.io.gfile.walk(root)
             for name in names)
    return [path for path in paths if tf.io.gfile.exists(path) and not tf.io.gfile.isdir(path)]


def tree(root: str) -> dict[str, bytes]:
    """Every file under a ram:// (or local) folder, by path relative to it, with its bytes."""
    files = {}
    for path in files_under(root):
        with tf.io.gfile.GFile(path, "rb") as handle:
            files[posixpath.relpath(path, root)] = handle.read()
    return files


def remove_tree(root: str) -> None:
    """tf.io.gfile.rmtree, which fails on ram://'s prefix listing (see files_under)."""
    for path in files_under(root):
        tf.io.gfile.remove(path)
    for folder, _, _ in sorted(tf.io.gfile.walk(root), key=lambda entry: -len(entry[0])):
        if tf.io.gfile.isdir(folder):
            tf.io.gfile.rmtree(folder)


def rename_with_contents(rename: Callable[..., None]) -> Callable[..., None]:
    """tf.io.gfile.rename that moves a ram:// folder with everything under it, as TensorFlow's
    GCS and S3 file systems do (object by object); TF's ram:// renames only the folder's own
    entry, which loses tf.Transform's output (it writes to a temp folder, then renames it)."""

    def renamed(source: str, destination: str, overwrite: bool = False) -> None:
        if not str(source).startswith(PREFIX) or not tf.io.gfile.isdir(source):
            rename(source, destination, overwrite)
            return
        for relative in tree(source):
            target = posixpath.join(destination, relative)
            tf.io.gfile.makedirs(posixpath.dirname(target))
            tf.io.gfile.copy(posixpath.join(source, relative), target, overwrite=overwrite)
        tf.io.gfile.rmtree(source)

    return renamed


class _WrittenOnClose(io.BytesIO):
    """A file being written, saved to its ram:// path when closed."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = path
        self.mode = "wb"  # Beam's compressed writer reads it

    def close(self) -> None:
        if not self.closed:
            with tf.io.gfile.GFile(self._path, "wb") as handle:
                handle.write(self.getvalue())
        super().close()


class _ReadFile(io.BytesIO):
    """A ram:// file read whole, with the `mode` Beam's compressed reader asks for."""

    mode = "rb"


class RamFileSystem(FileSystem):
    """Beam's FileSystem for ram:// paths, delegating to TensorFlow's gfile."""

    @classmethod
    def scheme(cls) -> str:
        return SCHEME

    def join(self, basepath: str, *paths: str) -> str:
        return posixpath.join(basepath, *paths)

    def split(self, path: str) -> tuple[str, str]:
        head, tail = posixpath.split(path[len(PREFIX):])
        return PREFIX + head, tail

    def has_dirs(self) -> bool:
        return True

    def mkdirs(self, path: str) -> None:
        tf.io.gfile.makedirs(path)

    def _list(self, dir_or_prefix: str) -> Iterator[FileMetadata]:
        folder = dir_or_prefix if tf.io.gfile.isdir(dir_or_prefix) else posixpath.dirname(
            dir_or_prefix)
        for parent, _, names in tf.io.gfile.walk(folder):
            for name in names:
                path = posixpath.join(parent, name)
                if path.startswith(dir_or_prefix):
                    yield self.metadata(path)

    def _open(self, path: str, mode: str, compression_type: str) -> Any:
        if compression_type == CompressionTypes.AUTO:
            compression_type = CompressionTypes.detect_compression_type(path)
        # Files go through memory whole (test files are small), as objects with io's full
        # interface like Beam's own file systems return: pyarrow asks a reader for `closed`,
        # Beam's compressed writer asks for tell(); TensorFlow's ram:// files have neither.
        if mode == "rb":
            with tf.io.gfile.GFile(path, "rb") as handle:
                raw: io.BytesIO = _ReadFile(handle.read())
        else:
            raw = _WrittenOnClose(path)
        if compression_type == CompressionTypes.UNCOMPRESSED:
            return raw
        return CompressedFile(raw, compression_type=compression_type)

    def create(self, path: str, mime_type: str = "application/octet-stream",
               compression_type: str = CompressionTypes.AUTO) -> Any:
        return self._open(path, "wb", compression_type)

    def open(self, path: str, mime_type: str = "application/octet-stream",
             compression_type: str = CompressionTypes.AUTO) -> Any:
        return self._open(path, "rb", compression_type)

    def copy(self, source_file_names: list[str], destination_file_names: list[str]) -> None:
        for source, destination in zip(source_file_names, destination_file_names, strict=True):
            tf.io.gfile.copy(source, destination, overwrite=True)

    def rename(self, source_file_names: list[str], destination_file_names: list[str]) -> None:
        for source, destination in zip(source_file_names, destination_file_names, strict=True):
            tf.io.gfile.rename(source, destination, overwrite=True)

    def exists(self, path: str) -> bool:
        return tf.io.gfile.exists(path)

    def size(self, path: str) -> int:
        return tf.io.gfile.stat(path).length

    def last_updated(self, path: str) -> float:
        return tf.io.gfile.stat(path).mtime_nsec / 1e9

    def checksum(self, path: str) -> str:
        return str(self.size(path))

    def metadata(self, path: str) -> FileMetadata:
        if not tf.io.gfile.exists(path):
            raise BeamIOError("metadata failed", {path: FileNotFoundError(path)})
        stat = tf.io.gfile.stat(path)
        return FileMetadata(path, stat.length, stat.mtime_nsec / 1e9)

    def delete(self, paths: list[str]) -> None:
        for path in paths:
            if tf.io.gfile.isdir(path):
                tf.io.gfile.rmtree(path)
            elif tf.io.gfile.exists(path):
                tf.io.gfile.remove(path)
