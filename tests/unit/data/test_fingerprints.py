"""Fingerprints stream files in chunks and keep the digests of whole-file reads."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from pipeline.data import fingerprints
from pipeline.run import manifest
from pipeline.serving import layout

# Not a multiple of the chunk size: the last chunk is a short one.
BIG_FILE_BYTES = 3 * fingerprints.CHUNK_BYTES + 12_345


def whole_file_data_fingerprint(files: list[Path]) -> str:
    """The data fingerprint computed from whole-file reads: length-prefixed name and link
    target, size, bytes."""
    digest = hashlib.sha256()
    for path in sorted(files):
        for value in (path.name.encode(), b""):
            digest.update(len(value).to_bytes(8, "big") + value)
        data = path.read_bytes()
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def old_files_fingerprint(paths: list[Path], root: Path) -> str:
    """The whole-file computation of code and schema fingerprints before streaming."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture()
def big_files(tmp_path: Path) -> list[Path]:
    """A multi-MB file, an empty one and a small one, in a sub-folder too."""
    (tmp_path / "sub").mkdir()
    big = tmp_path / "big.csv"
    big.write_bytes(os.urandom(BIG_FILE_BYTES))
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    small = tmp_path / "sub" / "small.csv"
    small.write_bytes(b"a,b\n1,2\n")
    return [big, empty, small]


def test_streamed_digests_equal_the_whole_file_ones(big_files: list[Path], tmp_path: Path) -> None:
    expected_data = whole_file_data_fingerprint(big_files)
    expected_files = old_files_fingerprint(big_files, tmp_path)
    expected_lock = hashlib.sha256(big_files[0].read_bytes()).hexdigest()
    assert fingerprints.data_fingerprint(big_files) == expected_data
    assert fingerprints.files_fingerprint(big_files, tmp_path) == expected_files
    assert fingerprints.file_sha256(big_files[0]) == expected_lock
    assert manifest.lock_sha256(big_files[0]) == expected_lock
    assert manifest.lock_sha256(tmp_path / "missing.lock") == "none"


def test_chunk_size_does_not_change_the_digest(big_files: list[Path]) -> None:
    for chunk in (1, 7, 4096, fingerprints.CHUNK_BYTES, BIG_FILE_BYTES + 1):
        digest = hashlib.sha256()
        fingerprints.update_with_file(digest, big_files[0], chunk)
        assert digest.hexdigest() == hashlib.sha256(big_files[0].read_bytes()).hexdigest()


def test_no_fingerprint_reads_a_whole_file(
    big_files: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = whole_file_data_fingerprint(big_files), old_files_fingerprint(big_files, tmp_path)
    sizes = []
    real_read = fingerprints.update_with_file

    def whole_reads_refused(self: Path) -> bytes:
        raise AssertionError(f"{self} read whole")

    def counted(digest: object, path: Path, chunk: int = fingerprints.CHUNK_BYTES) -> None:
        sizes.append(chunk)
        real_read(digest, path, chunk)

    monkeypatch.setattr(Path, "read_bytes", whole_reads_refused)
    monkeypatch.setattr(fingerprints, "update_with_file", counted)
    assert (fingerprints.data_fingerprint(big_files),
            fingerprints.files_fingerprint(big_files, tmp_path)) == expected
    assert sizes and set(sizes) == {fingerprints.CHUNK_BYTES}


def test_model_fingerprint_streams_and_skips_assets_extra(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "variables").mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(os.urandom(BIG_FILE_BYTES))
    (model / "variables" / "variables.index").write_bytes(b"index")
    expected = old_files_fingerprint(
        [model / "saved_model.pb", model / "variables" / "variables.index"], model)
    assert layout.model_fingerprint(model) == expected
    (model / layout.ASSETS_EXTRA).mkdir()
    (model / layout.ASSETS_EXTRA / "record.json").write_text("{}")
    assert layout.model_fingerprint(model) == expected
