"""`mlflow-sync` and `ui`: ML Metadata mirrored into MLflow, and MLflow's UI on top of it."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from pipeline.cli.common import positive_int, store_arguments
from pipeline.config import PipelineConfig, env_values, store_config
from pipeline.config.record import config_from_record, config_record
from pipeline.config.secrets import secret
from pipeline.errors import InvalidInput
from pipeline.logs import private_file, shown_path
from pipeline.mirror import hooks
from pipeline.mirror.runs import runs_page
from pipeline.mirror.settings import mirror_settings
from pipeline.mirror.sync import SYNC_LOG, sync
from pipeline.serving.server_config import DEFAULT_OUTPUT_DIR, MODELS_CONFIG

# Config fields the mirror reads besides the store's.
MIRROR_FIELDS = ("tracking_uri", "model_name")


# What `run` starts to mirror itself: this command, reading the run's config on stdin.
AFTER_RUN_COMMAND = ("-m", "pipeline", "mlflow-sync", "--after-run")


def sync_after_run(config: PipelineConfig) -> None:
    """Mirror the run just made without making its exit wait: a detached `mlflow-sync` (its own
    session, so it outlives the run; output to the sync log) unless the config asks to wait.

    Nothing is lost if it dies: a sync holds the store's lock (one writer at a time) and adds
    whatever ML Metadata has that MLflow lacks, so the next sync repairs a killed one.
    """
    settings = mirror_settings(config)
    if settings is None or config.mirror_wait:
        hooks.sync_after_run(config)
        return
    log = config.log_dir / SYNC_LOG
    request = {"config": config_record(config), "tracking_uri": config.tracking_uri}
    try:
        with private_file(log, "a") as output:
            child = subprocess.Popen([sys.executable, *AFTER_RUN_COMMAND], stdin=subprocess.PIPE,
                                     stdout=output, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        assert child.stdin is not None  # stdin=PIPE
        with child.stdin:
            child.stdin.write(json.dumps(request).encode())
    except OSError as error:  # the run already succeeded or failed on its own
        hooks.warn("the run", error)
        return
    print(f"mlflow      syncing in the background (process {child.pid}, log "
          f"{shown_path(log)}); --wait-for-mirror waits for it")


def _after_run(stdin: str) -> PipelineConfig:
    """The run's config as it handed it over (its record and tracking URI); the password, never
    recorded nor piped, comes from the environment the run passed on."""
    request = json.loads(stdin)
    password = env_values(os.environ).get("metadata_password", "")
    return config_from_record(request["config"]).replace(
        tracking_uri=request["tracking_uri"], metadata_password=secret(password))


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
    if args.after_run:  # started by `run`: a failure is a warning in the sync log, as in process
        hooks.sync_after_run(_after_run(sys.stdin.read()))
        return 0
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
    mirror.add_argument("--after-run", action="store_true", help=argparse.SUPPRESS)
    mirror.set_defaults(handler=_mlflow_sync)
    ui = commands.add_parser("ui", help="sync, then open MLflow's UI on 127.0.0.1")
    _add_mirror_arguments(ui)
    ui.add_argument("--port", type=positive_int, default=5000, help="port of the UI (5000)")
    ui.set_defaults(handler=_ui)
