"""Arguments several commands share: where the pipeline's metadata lives."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.config import PipelineConfig, add_metadata_server_arguments

DEFAULTS = {f: PipelineConfig.__dataclass_fields__[f].default for f in (
    "data_dir", "schema_path", "metadata_path", "pipeline_name")}


def store_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the pipeline's metadata lives; unset flags fall back to PIPELINE_* env vars, then the
    config defaults (pipeline.config.store_config builds the config readers open)."""
    parser.add_argument("--metadata", dest="metadata_path", type=Path,
                        help="ML Metadata SQLite file (default $PIPELINE_METADATA_PATH or "
                             f"{DEFAULTS['metadata_path']})")
    parser.add_argument("--pipeline-name", dest="pipeline_name",
                        help="pipeline in ML Metadata (default $PIPELINE_PIPELINE_NAME or "
                             f"{DEFAULTS['pipeline_name']})")
    add_metadata_server_arguments(parser)


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
