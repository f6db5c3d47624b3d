"""`mlflow-sync` and `ui`: ML Metadata mirrored into MLflow, and MLflow's UI on top of it."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pipeline.cli.common import positive_int, store_arguments
from pipeline.config import PipelineConfig, store_config
from pipeline.errors import InvalidInput
from pipeline.mirror.runs import runs_page
from pipeline.mirror.settings import mirror_settings
from pipeline.mirror.sync import sync
from pipeline.serving.server_config import DEFAULT_OUTPUT_DIR, MODELS_CONFIG

# Config fields the mirror reads besides the store's.
MIRROR_FIELDS = ("tracking_uri", "model_name")


def _config(args: argparse.Namespace) -> PipelineConfig:
    """The store, the model name and the tracking URI (flags, then PIPELINE_* variables)."""
    return store_config(os.environ, args, extra=MIRROR_FIELDS)


def _settings(config: PipelineConfig):
    """The mirror's store; 'off' makes no sense for a command that only mirrors."""
    settings = mirror_settings(config)
    if settings is None:
        raise InvalidInput("invalid config tracking_uri: 'off' leaves nothing to sync to; "
                           "pass --tracking-uri URI or leave it empty for the local store")
    return settings


def _models_config(args: argparse.Namespace, config: PipelineConfig) -> Path:
    """The models.config whose labels the registry's aliases follow."""
    return (args.output_dir or DEFAULT_OUTPUT_DIR / config.model_name) / MODELS_CONFIG


def _mlflow_sync(args: argparse.Namespace) -> int:
    """Mirror the runs and served versions MLflow does not show yet."""
    config = _config(args)
    print(sync(config, _settings(config), _models_config(args, config)).text())
    return 0


def _ui(args: argparse.Namespace) -> int:
    """Sync, then serve MLflow's UI on 127.0.0.1 until Ctrl-C."""
    from pipeline.services.mlflow_server import serve

    config = _config(args)
    settings = _settings(config)
    report = sync(config, settings, _models_config(args, config))
    print(report.text())
    return serve(settings, args.port, runs_page(report.experiment_id))


def _add_mirror_arguments(parser: argparse.ArgumentParser) -> None:
    """The store to read, the MLflow store to write, and where serving's labels are."""
    store_arguments(parser)
    parser.add_argument("--tracking-uri", dest="tracking_uri",
                        help="MLflow tracking URI (default $PIPELINE_TRACKING_URI, else the local "
                             "store state/mlflow/mlflow.db)")
    parser.add_argument("--model-name", dest="model_name",
                        help="served model name (default $PIPELINE_MODEL_NAME or the project name)")
    parser.add_argument("--output-dir", type=Path,
                        help="folder of the models.config whose labels the aliases follow "
                             "(default serving/<model-name>)")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """`mlflow-sync` and `ui`."""
    mirror = commands.add_parser("mlflow-sync", help="mirror ML Metadata's runs and versions into MLflow")
    _add_mirror_arguments(mirror)
    mirror.set_defaults(handler=_mlflow_sync)
    ui = commands.add_parser("ui", help="sync, then open MLflow's UI on 127.0.0.1")
    _add_mirror_arguments(ui)
    ui.add_argument("--port", type=positive_int, default=5000, help="port of the UI (5000)")
    ui.set_defaults(handler=_ui)
