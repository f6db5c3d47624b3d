"""`python -m pipeline <command>`: parse, dispatch, and map every error kind to its exit code."""

from __future__ import annotations

import argparse
import atexit
import gc
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

try:
    from pipeline import environment
    from pipeline.cli import build_parser
    from pipeline.cli.failures import describe, is_user_level, without_sql, write_traceback
    from pipeline.config.secrets import mask_uri_passwords
    from pipeline.errors import EXIT_FAILED, PipelineError
    from pipeline.logs import masked_log_records, relative_paths
except ModuleNotFoundError as missing:
    # Started by an interpreter without the project's environment (`python -m pipeline` on a
    # fresh clone): one line saying what to run instead, not a traceback.
    if __name__ != "__main__" or (missing.name or "pipeline").split(".")[0] == "pipeline":
        raise
    sys.exit(f"error: {sys.executable} lacks the project's packages (no module {missing.name!r}): "
             f"run .venv/bin/python -m pipeline {' '.join(sys.argv[1:])} (make env creates .venv)")


def main(argv: Sequence[str] | None = None) -> int:
    """0 success, 1 the work failed, 2 invalid config or arguments, 3 another run holds the pipeline,
    4 `run` completed but its model was not blessed (nothing pushed).

    Every user-level problem is one `error:` line on stderr, never a traceback: PipelineError
    messages as they are; a bad file, a corrupt metadata store or a library error on either is
    named from the command's arguments, with the traceback kept in a log file.
    """
    args = build_parser().parse_args(argv)
    environment.prepare()
    # Library INFO lines (MLMD, TFX) belong in logs, not in a command's output; `run` turns them
    # back on inside its redirect to the log file.
    logging.getLogger("absl").setLevel(logging.WARNING)
    handler: Callable[[argparse.Namespace], int] = args.handler
    # `monitor` exits 1 on an alert, so "cannot run" has its own code there.
    cannot_run: int | None = getattr(args, "cannot_run_exit_code", None)
    try:
        with masked_log_records():
            return handler(args)
    except PipelineError as error:
        print(f"error: {relative_paths(mask_uri_passwords(without_sql(str(error))))}",
              file=sys.stderr)
        return cannot_run or error.exit_code
    except Exception as error:
        if not is_user_level(error):
            raise
        print(f"error: {relative_paths(mask_uri_passwords(describe(error, args)))} "
              f"({relative_paths(write_traceback(error, args))})", file=sys.stderr)
        return cannot_run or EXIT_FAILED


# Native libraries whose own teardown is noisy or unsafe at interpreter exit. TensorFlow: objects
# holding tf.functions (a loaded or trained model, tf.data pipelines, Beam's shared model cache) die
# while the interpreter wipes module globals, and each one's `AtomicFunction.__del__` prints
# "Exception ignored ... TypeError". pyarrow 10 (the pre-flight's CSV reader): its thread pool's
# static destructor sometimes ends the process with "terminate called without an active exception"
# and exit code 134 after the command succeeded (measured: 3 of 40 runs of a three-line script).
UNSAFE_TEARDOWN = ("tensorflow", "pyarrow")


def exit_quietly(code: int) -> NoReturn:
    """Exit with `code`, without the native libraries' teardown when one of them was loaded.

    Cyclic garbage is collected while every module is intact, the atexit handlers run (log files
    flushed and closed, temp folders removed), the standard streams are flushed, and the process
    ends without the module teardown and static destructors where the noise and aborts come from.
    Only after a command returned: an exception leaving main() exits the ordinary way.
    """
    if not any(name in sys.modules for name in UNSAFE_TEARDOWN):
        sys.exit(code)
    gc.collect()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_quietly(main())
