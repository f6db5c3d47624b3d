"""Arguments several commands share: where the pipeline's metadata lives."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pipeline.config import PipelineConfig, add_metadata_server_arguments, local_path


def store_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the pipeline's metadata lives; unset flags fall back to PIPELINE_* env vars, then the
    config defaults (pipeline.config.store_config builds the config readers open)."""
    project_argument(parser)
    parser.add_argument("--metadata", dest="metadata_path", type=local_path,
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


def http_url(text: str) -> str:
    """argparse type for a REST endpoint: http:// or https://, so a typo never reaches a socket."""
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme not in ("http", "https"):
        raise argparse.ArgumentTypeError(f"expected an http:// or https:// URL, got {text!r}")
    return text


def grpc_target(text: str) -> str:
    """argparse type for a gRPC endpoint: host:port, without a URL scheme."""
    host, _, port = text.rpartition(":")
    if "://" in text or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT (e.g. localhost:8500), got {text!r}")
    return text


def version_number(text: str) -> str:
    """argparse type for a serving version: a whole number > 0, kept as the text versions use."""
    return str(positive_int(text))


def pushed_model_arguments(parser: Any) -> None:
    """Where a pushed model is found without a server: the versions and the labels (a parser or
    an argument group)."""
    parser.add_argument("--serving-dir", dest="serving_dir", type=local_path,
                        help="where versions are pushed (default $PIPELINE_SERVING_DIR or "
                             "state/serving_model)")
    parser.add_argument("--config-dir", type=local_path,
                        help="serving-config's folder whose models.config gives the labels "
                             "(default serving/<model-name>)")


def command_log(config: PipelineConfig, command: str) -> Path:
    """Where a command's TensorFlow, absl and Beam output goes (state/logs/<command>.log), so the
    console holds the command's own lines only."""
    return config.log_dir / f"{command}.log"
