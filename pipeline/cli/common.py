"""Arguments several commands share: where the pipeline's metadata lives."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.config import PipelineConfig

DEFAULTS = {f: PipelineConfig.__dataclass_fields__[f].default for f in (
    "data_dir", "schema_path", "metadata_path", "pipeline_name")}


def store_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the pipeline's metadata lives."""
    parser.add_argument("--metadata", type=Path, default=DEFAULTS["metadata_path"],
                        help="ML Metadata SQLite file of the pipeline")
    parser.add_argument("--pipeline-name", default=DEFAULTS["pipeline_name"])


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
