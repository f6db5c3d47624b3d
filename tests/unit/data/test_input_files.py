"""One set of input files: the pre-flight, the data fingerprint and CsvExampleGen's pattern agree,
whatever the entries' names and kinds, and never open a special file."""

from __future__ import annotations

import fnmatch
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.config import PipelineConfig
from pipeline.data import fingerprints, input_files, spans
from pipeline.data.preflight import PreflightError, check_data_dir
from pipeline.run import manifest
from tests.support.configs import small_config, span_files
from tests.support.faults import sample_lines, write_lines

SCHEMA = PipelineConfig().schema_path
TAXI = PipelineConfig().declaration
LIMIT = 1 << 20
pytestmark = pytest.mark.timeout(30)  # a FIFO opened by mistake would block forever


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _socket(path: Path) -> None:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()  # the socket file stays


def _link_to(target: str) -> Callable[[Path], None]:
    return lambda path: path.symlink_to(target)


def _loop(path: Path) -> None:
    path.symlink_to(path.name)


def _directory(path: Path) -> None:
    path.mkdir()


def _text(text: str) -> Callable[[Path], None]:
    return lambda path: path.write_text(text)


# (entry name, how to make it, text of the refusal). Every one matches CsvExampleGen's `*.csv`.
REFUSED = [
    ("pipe.csv", _fifo, "is a FIFO (named pipe)"),
    ("sock.csv", _socket, "is a socket"),
    ("null.csv", _link_to("/dev/null"), "links to a file that is a character device"),
    ("dangling.csv", _link_to("nowhere.csv"), "is a dangling symbolic link (to nowhere.csv)"),
    ("loop.csv", _loop, "is a symbolic link loop"),
    ("old.csv", _directory, "is a directory"),
    ("to_dir.csv", _link_to("/tmp"), "links to a file that is a directory"),
    (".hidden.csv", _text("garbage"), "is a hidden or editor lock/backup file"),
    (".#data.csv", _link_to("user@host.1234:1"), "is a hidden or editor lock/backup file"),
    ("~$data.csv", _text("garbage"), "is a hidden or editor lock/backup file"),
    ("#data.csv", _text("garbage"), "is a hidden or editor lock/backup file"),
]

# Names CsvExampleGen's pattern does not match: ignored by all three, whatever they are.
IGNORED = [
    ("data.csv.swp", _text("\x00vim swap")),
    ("data.csv~", _text("garbage")),
    (".~lock.data.csv#", _text("garbage")),
    ("#data.csv#", _text("garbage")),
    ("notes.txt", _text("not csv")),
    ("DATA.CSV", _text("garbage")),
    ("pipe", _fifo),
    ("sub", _directory),
    ("dangling", _link_to("nowhere")),
]


def _data(folder: Path) -> Path:
    return write_lines(folder, sample_lines())


@pytest.mark.parametrize(("name", "make", "why"), REFUSED, ids=[r[0] for r in REFUSED])
def test_an_unreadable_entry_is_refused_by_all_three_naming_it(
    tmp_path: Path, name: str, make: Callable[[Path], None], why: str
) -> None:
    folder = _data(tmp_path / "data")
    make(folder / name)
    assert fnmatch.fnmatch(name, input_files.DATA_FILE_PATTERN)  # CsvExampleGen would match it
    expected = f"{folder / name}: {why}"
    with pytest.raises(PreflightError) as preflight:
        check_data_dir(folder, SCHEMA, LIMIT, TAXI)
    assert expected in str(preflight.value)
    with pytest.raises(PreflightError) as facts:
        manifest.compute(small_config(tmp_path, data_dir=folder))
    assert expected in str(facts.value)
    (problem,) = input_files.local_problems([str(folder / name)])  # CsvExampleGen's own check
    assert problem.startswith(expected)


@pytest.mark.parametrize(("name", "make"), IGNORED, ids=[i[0] for i in IGNORED])
def test_a_name_outside_the_pattern_is_read_by_none(
    tmp_path: Path, name: str, make: Callable[[Path], None]
) -> None:
    folder = _data(tmp_path / "data")
    before = manifest.compute(small_config(tmp_path, data_dir=folder))
    make(folder / name)
    assert not fnmatch.fnmatch(name, input_files.DATA_FILE_PATTERN)
    listing = input_files.list_folder(folder)
    assert listing.files == (folder / "data.csv",)
    assert name in listing.ignored
    assert check_data_dir(folder, SCHEMA, LIMIT, TAXI).files == 1
    after = manifest.compute(small_config(tmp_path, data_dir=folder))
    assert (after.data_files, after.data_fingerprint) == (before.data_files,
                                                          before.data_fingerprint)


def test_links_to_regular_files_are_data_in_name_order(tmp_path: Path) -> None:
    folder = _data(tmp_path / "data")
    (tmp_path / "elsewhere.csv").write_text((folder / "data.csv").read_text())
    (folder / "b.csv").symlink_to(tmp_path / "elsewhere.csv")
    (folder / "a.csv").symlink_to("data.csv")
    expected = [folder / n for n in ("a.csv", "b.csv", "data.csv")]
    assert input_files.data_files(folder) == expected
    assert check_data_dir(folder, SCHEMA, LIMIT, TAXI).files == 3
    run_manifest = manifest.compute(small_config(tmp_path, data_dir=folder))
    assert run_manifest.data_files == tuple(map(str, expected))


def test_a_folder_of_ignored_names_has_no_input_files_and_says_what_it_ignored(
    tmp_path: Path,
) -> None:
    write_lines(tmp_path, sample_lines(), "data.CSV")
    with pytest.raises(PreflightError, match=r"no input files \(ignored, not \*\.csv: data\.CSV\)"):
        check_data_dir(tmp_path, SCHEMA, LIMIT, TAXI)


def test_span_folders_follow_the_same_rule(tmp_path: Path) -> None:
    span = _data(tmp_path / "data" / "span-1")
    (span / "notes.txt").write_text("x")
    assert span_files(tmp_path / "data", 1) == [span / "data.csv"]
    assert spans.SPAN_PATTERN.endswith("/" + input_files.DATA_FILE_PATTERN)
    os.mkfifo(span / "pipe.csv")
    with pytest.raises(PreflightError, match="pipe.csv: is a FIFO"):
        span_files(tmp_path / "data", 1)
    assert spans.input_bytes(tmp_path / "data", PipelineConfig().spans) == \
        (span / "data.csv").stat().st_size


def _edit(name: str) -> Callable[[Path], None]:
    """Changes to the set of files that must change the data fingerprint."""
    def add(folder: Path) -> None:
        (folder / "b.csv").write_text((folder / "a.csv").read_text())

    def remove(folder: Path) -> None:
        (folder / "b.csv").unlink()

    def rename(folder: Path) -> None:
        (folder / "b.csv").rename(folder / "c.csv")

    def same_size_edit(folder: Path) -> None:
        text = (folder / "b.csv").read_text()
        (folder / "b.csv").write_text(text[:-2] + ("1" if text[-2] != "1" else "2") + "\n")

    def retarget(folder: Path) -> None:
        (folder / "link.csv").unlink()
        (folder / "link.csv").symlink_to("twin.txt")  # same bytes, another file

    def move_bytes_between_files(folder: Path) -> None:
        a, b = (folder / "a.csv").read_bytes(), (folder / "b.csv").read_bytes()
        (folder / "a.csv").write_bytes(a + b[:10])
        (folder / "b.csv").write_bytes(b[10:])

    return {f.__name__: f for f in (add, remove, rename, same_size_edit, retarget,
                                    move_bytes_between_files)}[name]


EDITS = ["add", "remove", "rename", "same_size_edit", "retarget", "move_bytes_between_files"]


@pytest.mark.parametrize("edit", EDITS)
def test_any_change_to_the_set_of_files_changes_the_fingerprint(tmp_path: Path, edit: str) -> None:
    folder = _data(tmp_path)
    (folder / "data.csv").rename(folder / "a.csv")
    (folder / "b.csv").write_text("\n".join(sample_lines()[:5]) + "\n")
    (folder / "twin.txt").write_text((folder / "a.csv").read_text())
    (folder / "link.csv").symlink_to("a.csv")
    before = fingerprints.data_fingerprint(input_files.data_files(folder))
    _edit(edit)(folder)
    assert fingerprints.data_fingerprint(input_files.data_files(folder)) != before


def test_touching_a_file_with_the_same_bytes_keeps_the_fingerprint(tmp_path: Path) -> None:
    folder = _data(tmp_path)
    before = fingerprints.data_fingerprint(input_files.data_files(folder))
    os.utime(folder / "data.csv", (1, 1))
    assert fingerprints.data_fingerprint(input_files.data_files(folder)) == before
