"""`python -m pipeline <command>`: parse, dispatch, and map every error kind to its exit code."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from pipeline import environment
from pipeline.cli import build_parser
from pipeline.errors import PipelineError


def main(argv: Sequence[str] | None = None) -> int:
    """0 success, 1 the work failed, 2 invalid config or arguments, 3 another run holds the pipeline."""
    args = build_parser().parse_args(argv)
    environment.prepare()
    # Library INFO lines (MLMD, TFX) belong in logs, not in a command's output; `run` turns them
    # back on inside its redirect to the log file.
    logging.getLogger("absl").setLevel(logging.WARNING)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
