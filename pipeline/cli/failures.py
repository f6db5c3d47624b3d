"""Errors that escape a command without being a PipelineError, turned into one `error:` line.

Commands raise PipelineError subclasses where they can name the file or flag at fault; this is
the net under them: a file the OS refuses, a file that is not UTF-8, a corrupt ML Metadata store
(RuntimeError from MLMD's C++ layer) or a TensorFlow / protobuf error on a bad input file. The
line names what the arguments point at; the traceback goes to a log file (mode 0600).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import traceback
from pathlib import Path
from typing import cast

from pipeline.config import PipelineConfig, env_values
from pipeline.config.secrets import mask_credentials_in_text

# Libraries whose exceptions (or RuntimeErrors raised from their code) mean bad input, not a bug.
LIBRARY_PACKAGES = ("ml_metadata", "absl", "tensorflow", "google.protobuf")
# MLMD appends the failing SQL statement to its messages; the statement helps nobody.
_SQL_TAIL = re.compile(r"\s+query:\s+(CREATE|SELECT|INSERT|UPDATE|DELETE|PRAGMA|ALTER)\b.*",
                       re.DOTALL | re.IGNORECASE)
_FILENAME_PACKAGES = tuple(f"{os.sep}{p.replace('.', os.sep)}{os.sep}" for p in LIBRARY_PACKAGES)


def is_user_level(error: BaseException) -> bool:
    """True for errors a user's input causes: OS and encoding errors, library errors on files."""
    if isinstance(error, OSError | UnicodeError):
        return True
    return _from_library(error)


def _from_library(error: BaseException) -> bool:
    """The exception is a library's own class, or a RuntimeError/ValueError raised inside one."""
    module = type(error).__module__ or ""
    if module.startswith(LIBRARY_PACKAGES):
        return True
    if not isinstance(error, RuntimeError):
        return False
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and any(p in frames[-1].filename for p in _FILENAME_PACKAGES)


def without_sql(text: str) -> str:
    """The message without the SQL statement MLMD appends to its errors."""
    return _SQL_TAIL.sub("", text)


def one_line(text: str) -> str:
    """Whitespace (newlines too) collapsed, without MLMD's SQL statement."""
    return " ".join(without_sql(text).split())


def describe(error: BaseException, args: argparse.Namespace) -> str:
    """What went wrong, naming the file, store or flag the arguments point at."""
    if isinstance(error, UnicodeDecodeError):
        files = ", ".join(str(p) for p in _argument_files(args)) or "an input file"
        return (f"{files}: not UTF-8 text ({error.reason}: byte 0x{error.object[error.start]:02x} "
                f"at offset {error.start})")
    if isinstance(error, OSError) and error.filename is not None:
        target = f" -> {error.filename2}" if error.filename2 is not None else ""
        return f"{error.filename}{target}: {error.strerror or one_line(str(error))}"
    if isinstance(error, OSError):
        return one_line(str(error)) or type(error).__name__
    module = type(error).__module__ or ""
    if module.startswith("ml_metadata") or isinstance(error, RuntimeError) and _from_library(error):
        return f"{_store_named(args)} is not a readable ML Metadata store: {one_line(str(error))}"
    message = getattr(error, "message", None) or str(error)
    return f"{type(error).__name__}: {one_line(str(message))}"


def _argument_files(args: argparse.Namespace) -> list[Path]:
    """Files named by the command's arguments (the candidates for an unreadable one)."""
    found = []
    for name, value in sorted(vars(args).items()):
        if name == "handler" or not isinstance(value, Path):
            continue
        if value.is_file():
            found.append(value)
    return found


def _store_named(args: argparse.Namespace) -> str:
    """The metadata store the command read: its flag, else PIPELINE_METADATA_PATH or config."""
    flagged = getattr(args, "metadata", None) or getattr(args, "metadata_path", None)
    if flagged is not None:
        return f"--metadata {flagged}"

    default = env_values(os.environ).get("metadata_path", "state/metadata/<project>.sqlite")
    return f"the metadata store {default}"


def log_dir(args: argparse.Namespace) -> Path:
    """--log-dir, else PIPELINE_LOG_DIR, else the config's log dir (state/logs)."""
    flagged = getattr(args, "log_dir", None)
    if flagged is not None:
        return Path(flagged)

    default_log_dir = cast(Path, PipelineConfig.__dataclass_fields__["log_dir"].default)
    return Path(os.environ.get("PIPELINE_LOG_DIR") or default_log_dir)


def write_traceback(error: BaseException, args: argparse.Namespace) -> str:
    """Keep the full traceback in <log dir>/cli-<time>-<pid>.log (0600); say where it is."""
    folder = log_dir(args)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = folder / f"cli-{getattr(args, 'command', 'pipeline')}-{stamp}-{os.getpid()}.log"
    text = mask_credentials_in_text(
        "".join(traceback.format_exception(type(error), error, error.__traceback__)))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
    except OSError as failure:
        return f"traceback not kept: cannot write {path}: {failure.strerror}"
    return f"traceback in {path}"
