"""Arguments several commands share: where the pipeline's metadata lives."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.config import add_metadata_server_arguments


def store_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the pipeline's metadata lives; unset flags fall back to PIPELINE_* env vars, then the
    config defaults (pipeline.config.store_config builds the config readers open)."""
    project_argument(parser)
    parser.add_argument("--metadata", dest="metadata_path", type=Path,
                        help="ML Metadata SQLite file (default $PIPELINE_METADATA_PATH or "
                             "state/metadata/<project>.sqlite)")
    parser.add_argument("--pipeline-name", dest="pipeline_name",
                        help="pipeline in ML Metadata (default $PIPELINE_PIPELINE_NAME or the project name)")
    add_metadata_server_arguments(parser)


def project_argument(parser: argparse.ArgumentParser) -> None:
    """--project NAME: which models/<NAME>/project.yaml the command works on."""
    parser.add_argument("--project", dest="project",
                        help="project under models/ (default $PIPELINE_PROJECT, else pyproject's "
                             "default-project)")


def positive_int(text: str) -> int:
    """argparse type for counts and version numbers: bad values fail naming the flag (exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type for durations such as timeouts."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value
