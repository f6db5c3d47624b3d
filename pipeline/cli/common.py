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
