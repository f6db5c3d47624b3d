"""`python -m pipeline <command>`: the project's command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from pipeline import airflow_local, environment
from pipeline.config import ConfigError, add_run_arguments, config_from_args

Subcommands = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _run(args: argparse.Namespace) -> int:
    """Run the whole pipeline locally and print the summary."""
    config = config_from_args(args, os.environ)
    from pipeline.local_runner import PipelineRunError, report, run_pipeline

    try:
        result = run_pipeline(config)
    except PipelineRunError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(report(result, config))
    return 0


def _add_run_command(commands: Subcommands) -> None:
    """`run`: the whole pipeline with LocalDagRunner."""
    run = commands.add_parser("run", help="run the pipeline locally (LocalDagRunner)")
    add_run_arguments(run)
    run.set_defaults(handler=_run)


# Each feature module contributes its subcommands here; registrars must not import TensorFlow.
REGISTRARS: list[Callable[[Subcommands], None]] = [
    _add_run_command,
    airflow_local.add_commands,
]


def build_parser() -> argparse.ArgumentParser:
    """All subcommands and their flags."""
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for register in REGISTRARS:
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse flags, prepare the TF environment, dispatch; config errors exit with code 2."""
    args = build_parser().parse_args(argv)
    environment.prepare()
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
