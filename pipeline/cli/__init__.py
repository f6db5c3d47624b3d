"""The command line: every subcommand of `python -m pipeline`, registered here and nowhere else.

Registrars must not import TensorFlow: `--help` and the light commands answer without it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from pipeline.cli import (
    airflow,
    data,
    feedback,
    init,
    kubeflow,
    lineage,
    mirror,
    monitoring,
    predict,
    run,
    serving,
)

REGISTRARS: list[Callable[[argparse._SubParsersAction], None]] = [
    init.add_commands,
    run.add_commands,
    data.add_commands,
    lineage.add_commands,
    serving.add_commands,
    predict.add_commands,
    feedback.add_commands,
    monitoring.add_commands,
    airflow.add_commands,
    kubeflow.add_commands,
    mirror.add_commands,
]


def build_parser() -> argparse.ArgumentParser:
    """All subcommands and their flags."""
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description="The TFX pipeline's command line: run it, ask ML Metadata, serve and monitor models.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for register in REGISTRARS:
        register(commands)
    return parser
