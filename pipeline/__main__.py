"""`python -m pipeline <command>`: the project's command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pipeline import (
    airflow_local,
    continuous_cli,
    environment,
    kubeflow_runner,
    lineage_cli,
    preflight,
    serving_client,
    serving_config,
)
from pipeline.config import STATE_DIR, ConfigError, add_run_arguments, config_from_args
from pipeline.run_lock import RunLockedError

Subcommands = "argparse._SubParsersAction[argparse.ArgumentParser]"
# Exit codes: 1 the run failed (pre-flight or a component), 2 invalid config, 3 another run is on.
EXIT_LOCKED = 3


def _run(args: argparse.Namespace) -> int:
    """Run the whole pipeline locally and print the summary."""
    config = config_from_args(args, os.environ)
    from pipeline.local_runner import PipelineRunError, report, run_pipeline

    try:
        result = run_pipeline(config, reuse_unchanged=not args.force)
    except (PipelineRunError, preflight.PreflightError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except RunLockedError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_LOCKED
    print(report(result, config))
    return 0


def _add_run_command(commands: Subcommands) -> None:
    """`run`: the whole pipeline with LocalDagRunner."""
    run = commands.add_parser("run", help="run the pipeline locally (LocalDagRunner)")
    add_run_arguments(run)
    run.add_argument("--force", action="store_true",
                     help="run every component even when data, schema, code, config and lock "
                          "file are those of the last complete run (TFX's cache still applies)")
    run.set_defaults(handler=_run)


def _infer_schema(args: argparse.Namespace) -> int:
    """Write SchemaGen's inferred schema to a review location, never over the curated one."""
    config = config_from_args(args, os.environ)
    from pipeline.local_runner import PipelineRunError, infer_schema

    try:
        written = infer_schema(config, args.output)
    except (PipelineRunError, preflight.PreflightError, RunLockedError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"inferred schema written to {written}")
    if config.schema_path is not None:
        print(f"review against the curated one: diff -u {config.schema_path} {written}")
    return 0


def _add_infer_schema_command(commands: Subcommands) -> None:
    """`infer-schema`: regenerate a schema from SchemaGen for review."""
    infer = commands.add_parser(
        "infer-schema", help="run up to SchemaGen and write its inferred schema for review"
    )
    add_run_arguments(infer)
    infer.add_argument("--output", type=Path, default=STATE_DIR / "schema" / "schema.pbtxt",
                       help="where to write the inferred schema.pbtxt")
    infer.set_defaults(handler=_infer_schema)


# Each feature module contributes its subcommands here; registrars must not import TensorFlow.
REGISTRARS: list[Callable[[Subcommands], None]] = [
    _add_run_command,
    _add_infer_schema_command,
    serving_config.add_commands,
    serving_client.add_commands,
    lineage_cli.add_commands,
    kubeflow_runner.add_commands,
    airflow_local.add_commands,
    preflight.add_commands,
    continuous_cli.add_commands,
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
    # Library INFO lines (MLMD, TFX) belong in logs, not in a command's output; `run` turns them
    # back on inside its redirect to the log file.
    logging.getLogger("absl").setLevel(logging.WARNING)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
