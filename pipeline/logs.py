"""Logging every command shares: credentials masked in every log record, private (0600) log
files, and verbose output (TensorFlow's C++, Beam workers, Python logging) sent to a log file."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from pipeline.config.secrets import MASK, mask_arg, mask_beam_args, mask_credentials_in_text


def _mask_fields(message: Message, after_bare_option: bool = False) -> bool:
    """Mask, in place, every `*password*` string field and every credential Beam option in the
    string fields, in field order (TFX logs its whole deployment config: MLMD connection, Beam
    args, one per field or per placeholder message); returns whether the last string was a bare
    credential option whose value comes next."""
    for field, value in message.ListFields():
        repeated = field.label == FieldDescriptor.LABEL_REPEATED
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            is_map = field.message_type.GetOptions().map_entry
            for item in (value.values() if is_map else value if repeated else [value]):
                if isinstance(item, Message):
                    after_bare_option = _mask_fields(item, after_bare_option)
        elif field.type == FieldDescriptor.TYPE_STRING:
            secret_field = "password" in field.name.lower()
            items = list(value) if repeated else [value]
            for index, item in enumerate(items):
                items[index], after_bare_option = (MASK, False) if secret_field else mask_arg(
                    item, after_bare_option)
            if repeated:
                value[:] = items
            else:
                setattr(message, field.name, items[0])
    return after_bare_option


def masked(value: Any) -> Any:
    """A log argument with its credentials masked, by type: protobuf messages (copied), lists of
    Beam args; anything else unchanged (a Secret shows only its mask already)."""
    if isinstance(value, Message):
        copy = type(value)()
        copy.CopyFrom(value)
        _mask_fields(copy)
        return copy
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return type(value)(mask_beam_args(value))
    return value


def _masked_record(record: logging.LogRecord) -> None:
    """Mask a record where it is made: its arguments by type, then its text by option names."""
    if isinstance(record.args, Mapping):
        record.args = {key: masked(value) for key, value in record.args.items()}
    elif isinstance(record.args, tuple):
        record.args = tuple(masked(value) for value in record.args)
    record.msg = masked(record.msg)
    try:
        message = record.getMessage()
    except (TypeError, ValueError):
        return  # logging reports the bad format string itself; leave the record as it was
    record.msg, record.args = mask_credentials_in_text(message), None
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = mask_credentials_in_text(
            logging.Formatter().formatException(record.exc_info))


@contextlib.contextmanager
def masked_log_records() -> Iterator[None]:
    """Every log record made while the block runs, by any library and for any handler, has its
    credentials masked as it is created (a handler's or logger's filter would miss some)."""
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _masked_record(record)
        return record

    logging.setLogRecordFactory(factory)
    try:
        yield
    finally:
        logging.setLogRecordFactory(previous)


def shown_path(path: Path | str) -> str:
    """A local path as the console shows it: relative when under the working directory (as the
    README writes it), else as given; URIs (gs://, ...) unchanged."""
    text = str(path)
    if "://" in text:
        return text
    absolute = os.path.abspath(text)
    here = os.getcwd()
    return os.path.relpath(absolute, here) if absolute.startswith(here + os.sep) else text


def relative_paths(text: str) -> str:
    """Every absolute path under the working directory in a console message shown relative (as
    shown_path does for one path); a path in a URI (file:///...) or elsewhere unchanged."""
    here = os.getcwd().rstrip(os.sep) + os.sep
    if here == os.sep:
        return text
    return re.sub(r"(?<![\w/:.~-])" + re.escape(here), "", text)


def private_file(path: Path, mode: str = "a") -> Any:
    """Open a log or settings file readable by its owner only (0600), whatever the umask: it
    may name servers, users and options."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    descriptor = os.open(path, flags, 0o600)
    os.fchmod(descriptor, 0o600)
    return os.fdopen(descriptor, mode, buffering=-1 if "b" in mode else 1)


@contextlib.contextmanager
def native_errors_to(log_path: Path) -> Iterator[None]:
    """Append fd 2 (ML Metadata's C++ log lines when a store does not open) to log_path, so the
    console shows the one `error:` line the failure becomes; Python's own output is untouched.
    Nothing is written (not even the folder) when the code printed nothing there."""
    sys.stderr.flush()
    saved_err = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved_err, 2)
            os.close(saved_err)
            captured.seek(0)
            written = captured.read()
            if written:
                with private_file(log_path, "ab") as log_file:
                    log_file.write(written)


@contextlib.contextmanager
def verbose_output_to(log_path: Path) -> Iterator[TextIO]:
    """Send fd 1/2 (TF C++, Beam workers) and Python logging to log_path; yield the real console."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    console = os.fdopen(os.dup(saved_out), "w", buffering=1)
    root = logging.getLogger()
    previous_handlers, previous_level = root.handlers[:], root.level
    with private_file(log_path) as log_file:
        os.dup2(log_file.fileno(), 1)
        os.dup2(log_file.fileno(), 2)
        file_handler = logging.StreamHandler(log_file)
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.handlers = [file_handler]
        root.setLevel(logging.INFO)
        try:
            yield console
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            root.handlers, root.level = previous_handlers, previous_level
            console.close()
