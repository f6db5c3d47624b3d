"""TF-free readers reach artifact files the same way on a local disk and on a remote file system (ram://)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pipeline.metadata import artifact_files


def _tree(write, root: str) -> None:
    """The same small artifact folder on any file system."""
    write(f"{root}/Split-train/SchemaDiff.pb", b"train")
    write(f"{root}/Split-eval/SchemaDiff.pb", b"eval")
    write(f"{root}/log.json", b'{"loss": 1}')


def _check(root: str) -> None:
    assert artifact_files.is_dir(root) and not artifact_files.is_file(root)
    assert artifact_files.is_file(f"{root}/log.json")
    assert not artifact_files.is_file(f"{root}/missing.json")
    assert artifact_files.read_text(f"{root}/log.json") == '{"loss": 1}'
    found = artifact_files.glob(root, "Split-*/SchemaDiff.pb")
    assert [artifact_files.read_bytes(f) for f in found] == [b"eval", b"train"]
    with artifact_files.local_folder(root) as folder:
        copied = sorted(p.relative_to(folder).as_posix() for p in Path(folder).rglob("*") if p.is_file())
        assert copied == ["Split-eval/SchemaDiff.pb", "Split-train/SchemaDiff.pb", "log.json"]


def test_local_artifacts_are_read_without_tensorflow(tmp_path: Path) -> None:
    def write(path: str, data: bytes) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data)

    _tree(write, str(tmp_path / "anomalies"))
    _check(str(tmp_path / "anomalies"))
    assert artifact_files.source_uri(str(tmp_path)) == tmp_path.resolve().as_uri()
    if "tensorflow" not in sys.modules:  # alone in a process: proves the local path stays TF-free
        assert "tensorflow" not in sys.modules


@pytest.mark.slow
def test_remote_artifacts_are_read_through_gfile() -> None:
    import tensorflow as tf

    def write(path: str, data: bytes) -> None:
        tf.io.gfile.makedirs(path.rsplit("/", 1)[0])
        with tf.io.gfile.GFile(path, "wb") as handle:
            handle.write(data)

    root = "ram://artifact-files-test/anomalies"
    _tree(write, root)
    _check(root)
    assert artifact_files.source_uri(root) == root
