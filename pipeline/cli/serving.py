"""`serving-config` and `rollback`: TF Serving configs from the pushed versions."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pipeline.cli.common import positive_float, positive_int, store_arguments
from pipeline.config import PipelineConfig, local_path, store_config
from pipeline.mirror.hooks import aliases_after_rollback
from pipeline.serving.release import DEFAULT_TIMEOUT, move_labels
from pipeline.serving.server_config import (
    BATCHING_CONFIG,
    CONFIGMAP,
    DEFAULT_KEEP,
    DEFAULT_OUTPUT_DIR,
    MODELS_CONFIG,
    MONITORING_CONFIG,
    STABLE,
    ServingPlan,
    append_audit,
    known_versions,
    pinned_version,
    plan_config,
    read_plan,
    rollback_plan,
)


def _server_base_path(config: PipelineConfig, server_model_dir: str | None) -> str:
    """Base path as the server sees it: the pipeline's serving dir, or its mount in a container."""
    root = server_model_dir or str(config.serving_dir)
    return f"{root.rstrip('/')}/{config.model_name}"


# What serving-config and rollback read: the store, and where the project's model versions are.
SERVING_FIELDS = ("serving_dir", "model_name", "tracking_uri")


def _config(args: argparse.Namespace) -> PipelineConfig:
    """The project's store, serving dir and model name (flags, then PIPELINE_* variables, then the
    project's defaults), and its output dir; run settings such as the data dir are not read."""
    config = store_config(os.environ, args, extra=SERVING_FIELDS)
    if args.output_dir is None:
        args.output_dir = DEFAULT_OUTPUT_DIR / config.model_name
    return config


def _note_unrecorded(versions: list[int]) -> None:
    """Say which versions come from the disk alone: the store does not record them."""
    if versions:
        print(f"not in metadata: version(s) {', '.join(map(str, versions))} found on disk only "
              "(the store does not record their push; restore it to know their lineage)")


def _current_plan(output_dir: Path, model_name: str) -> ServingPlan | None:
    """What the server is told now: the existing models.config, or None before the first write."""
    path = output_dir / MODELS_CONFIG
    return read_plan(path, model_name) if path.exists() else None


def _print_written(output_dir: Path) -> None:
    """Name every config file written."""
    for name in (MODELS_CONFIG, BATCHING_CONFIG, MONITORING_CONFIG, CONFIGMAP):
        print(f"wrote {output_dir / name}")


def _serving_config(args: argparse.Namespace) -> int:
    """Write the config files for the versions MLMD knows; a rollback pin holds until released."""
    config = _config(args)
    known, unrecorded = known_versions(config)
    _note_unrecorded(unrecorded)
    pin = pinned_version(args.output_dir, known)
    pinned = None if args.release else pin
    plan = plan_config(config.model_name, _server_base_path(config, args.server_model_dir),
                       known, stable=pinned, canary=args.canary, keep=args.keep)
    move_labels(_current_plan(args.output_dir, config.model_name), plan, args.output_dir,
                args.server, args.timeout)
    if pin is not None and args.release:
        append_audit(args.output_dir, {"action": "release", "model": config.model_name,
                                       "from": pin, "to": known[-1], "reason": args.reason})
    aliases_after_rollback(config, plan.labels)
    _print_written(args.output_dir)
    print(f"model {plan.model_name}: versions {list(plan.versions)}, labels {plan.labels}")
    if pinned is not None:
        print(f"stable stays pinned to version {pinned} by a rollback "
              f"(newest is {known[-1]}; --release to follow the newest again)")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    """Point `stable` at another version in two phases; unknown versions leave every file
    untouched, and an unconfirmed version leaves the label where it was."""
    config = _config(args)
    models_config = args.output_dir / MODELS_CONFIG
    current = read_plan(models_config, config.model_name)
    known, unrecorded = known_versions(config)
    _note_unrecorded(unrecorded)
    plan = rollback_plan(current, args.to, known)
    move_labels(current, plan, args.output_dir, args.server, args.timeout)
    entry = append_audit(args.output_dir, {
        "action": "rollback", "model": config.model_name,
        "from": current.labels.get(STABLE), "to": args.to, "reason": args.reason,
    })
    print(f"stable: version {entry['from']} -> {entry['to']} in {models_config}")
    aliases_after_rollback(config, plan.labels)
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """`serving-config` and `rollback` of a project's model: --project, the store, the serving dir."""
    write = commands.add_parser("serving-config", help="write TF Serving config files from MLMD")
    _add_serving_arguments(write)
    write.add_argument("--canary", type=positive_int, help="version to label 'canary'")
    write.add_argument("--keep", type=positive_int, default=DEFAULT_KEEP,
                       help=f"newest versions kept loaded for instant rollback ({DEFAULT_KEEP})")
    write.add_argument("--server-model-dir",
                       help="the serving dir as the server sees it (e.g. /models in a container)")
    write.add_argument("--release", action="store_true",
                       help="drop a rollback pin: stable follows the newest version again")
    write.add_argument("--reason", default="release rollback pin", help="audit text for --release")
    write.set_defaults(handler=_serving_config)
    back = commands.add_parser("rollback", help="point the 'stable' label at another version")
    _add_serving_arguments(back)
    back.add_argument("--to", type=positive_int, required=True, help="version to serve as stable")
    back.add_argument("--reason", default="", help="why (kept in the audit log)")
    back.set_defaults(handler=_rollback)


def _add_serving_arguments(parser: argparse.ArgumentParser) -> None:
    """The project and its store, where its versions are served from, and where the config files
    and the audit log live."""
    store_arguments(parser)
    parser.add_argument("--serving-dir", dest="serving_dir", type=local_path,
                        help="TF Serving model base path the pipeline pushes to: versions are "
                             "<dir>/<model-name>/<version>/ (default $PIPELINE_SERVING_DIR or "
                             "state/serving_model)")
    parser.add_argument("--model-name", dest="model_name",
                        help="model name under the serving dir (default $PIPELINE_MODEL_NAME or the "
                             "project name)")
    parser.add_argument("--output-dir", type=local_path,
                        help="folder of models.config and friends (default serving/<model-name>)")
    parser.add_argument("--server", metavar="HOST:PORT",
                        help="TF Serving's gRPC address: a moved label waits until "
                             "GetModelStatus reports its version AVAILABLE")
    parser.add_argument("--timeout", type=positive_float, default=DEFAULT_TIMEOUT,
                        help=f"seconds to wait for that (default {DEFAULT_TIMEOUT:g}; the server "
                             "re-reads models.config every --model_config_file_poll_wait_seconds)")
