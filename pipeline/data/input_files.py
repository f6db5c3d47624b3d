"""The one rule for which files of a data folder a run reads.

The pre-flight check, the data fingerprint (the "up to date" answer) and CsvExampleGen all take
their files from here, so they can never disagree:

- CsvExampleGen globs `DATA_FILE_PATTERN` (`*.csv`) in the folder: an entry whose name does not
  end in `.csv` is read by nothing (it is listed as ignored, never stat'ed nor opened).
- Every entry the pattern matches must be a regular file or a symbolic link to one, readable.
  Directories, dangling links, link loops, FIFOs, sockets and devices are refused, naming each
  and its kind: they are only ever lstat'ed and stat'ed, never opened, so nothing can hang.
- Hidden names and editors' lock, backup and autosave files that end in `.csv` (`.x.csv`,
  `.#x.csv`, `~$x.csv`, `#x.csv`) are refused too, naming them: a glob may read them, so
  skipping them here would let the pre-flight and the fingerprint see other files than
  CsvExampleGen; their presence usually means the data is being edited.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import WorkFailed

DATA_SUFFIX = ".csv"


DATA_FILE_PATTERN = "*" + DATA_SUFFIX


# First characters of hidden files and of editors' lock/backup/autosave files (Emacs `.#x`,
# `#x#`, Office `~$x`): such a name is never taken for data.
EDITOR_PREFIXES = (".", "~", "#")


class PreflightError(WorkFailed):
    """A pre-flight check failed before any component ran; the message lists every problem."""

    def __init__(self, title: str, problems: list[str]) -> None:
        super().__init__(f"{title}:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Listing:
    """A folder's data files, the problems that forbid reading it, and the names read by nothing."""

    folder: Path
    files: tuple[Path, ...]
    problems: tuple[str, ...]
    ignored: tuple[str, ...]


def is_data_name(name: str) -> bool:
    """Whether CsvExampleGen's glob of DATA_FILE_PATTERN matches this entry name."""
    return name.endswith(DATA_SUFFIX)


_SPECIAL_KINDS = (
    (stat.S_ISDIR, "is a directory"),
    (stat.S_ISFIFO, "is a FIFO (named pipe)"),
    (stat.S_ISSOCK, "is a socket"),
    (stat.S_ISCHR, "is a character device"),
    (stat.S_ISBLK, "is a block device"),
)


def kind_problem(path: Path) -> str | None:
    """Why this folder entry cannot be read as a data file, from its name and lstat/stat."""
    if path.name.startswith(EDITOR_PREFIXES):
        return ("is a hidden or editor lock/backup file, which CsvExampleGen's *.csv glob "
                "would read too; remove it (or finish editing) before running")
    return special_kind(path)


def special_kind(path: Path) -> str | None:
    """Why this path is not a readable regular file (or a link to one), from lstat/stat only:
    a FIFO or device is never opened, so nothing can hang."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "is a symbolic link loop"
        if error.errno == errno.ENOENT and os.path.islink(path):
            return f"is a dangling symbolic link (to {os.readlink(path)})"
        return f"cannot be read ({error.strerror})"
    link = "links to a file that " if os.path.islink(path) else ""
    for is_kind, text in _SPECIAL_KINDS:
        if is_kind(mode):
            return link + text
    if not stat.S_ISREG(mode):
        return link + "is not a regular file"
    if not os.access(path, os.R_OK):
        return "is not readable (permission denied)"
    return None


def list_folder(folder: Path) -> Listing:
    """The folder's data files (sorted by name), problems with any entry the pattern matches,
    and the names nothing reads."""
    if not folder.is_dir():
        return Listing(folder, (), (f"{folder}: input directory does not exist",), ())
    try:
        names = sorted(entry.name for entry in os.scandir(folder))
    except OSError as error:
        return Listing(folder, (), (f"{folder}: cannot list it ({error.strerror})",), ())
    files, problems = [], []
    for name in filter(is_data_name, names):
        problem = kind_problem(folder / name)
        if problem:
            problems.append(f"{folder / name}: {problem}")
        else:
            files.append(folder / name)
    ignored = tuple(name for name in names if not is_data_name(name))
    if not files and not problems:
        also = f" (ignored, not *{DATA_SUFFIX}: {', '.join(ignored[:5])})" if ignored else ""
        problems.append(f"{folder}: no input files{also}")
    return Listing(folder, tuple(files), tuple(problems), ignored)


def data_files(folder: Path) -> list[Path]:
    """The files a run reads in this folder; PreflightError naming every entry that forbids it."""
    listing = list_folder(folder)
    if listing.problems:
        raise PreflightError(f"input data check failed in {folder}", list(listing.problems))
    return list(listing.files)


def local_problems(paths: list[str]) -> list[str]:
    """For CsvExampleGen's globbed paths: why each local one cannot be read (URIs are skipped:
    their file systems have no special files)."""
    return [
        f"{path}: {problem}"
        for path in paths
        if "://" not in path and (problem := kind_problem(Path(path)))
    ]
