"""`serving-config` and `rollback`: TF Serving configs from the pushed versions."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pipeline.cli.common import positive_float, positive_int, store_arguments
from pipeline.config import PipelineConfig, local_path, store_config
from pipeline.logs import shown_path
from pipeline.mirror.hooks import aliases_after_rollback
from pipeline.serving.release import (
    DEFAULT_TIMEOUT,
    LabelMove,
    complete_release,
    move_labels,
    pending_release,
    read_pending,
)
from pipeline.serving.server_config import (
    BATCHING_CONFIG,
    CONFIGMAP,
    DEFAULT_KEEP,
    DEFAULT_OUTPUT_DIR,
    MODELS_CONFIG,
    MONITORING_CONFIG,
    STABLE,
    ServingPlan,
    config_lock,
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
        print(f"wrote {shown_path(output_dir / name)}")


def _complete_command(args: argparse.Namespace, config: PipelineConfig) -> str:
    """The command that completes a pending release of this project's model."""
    words = ["python -m pipeline serving-config --complete"]
    if args.project:
        words.append(f"--project {args.project}")
    if args.output_dir != DEFAULT_OUTPUT_DIR / config.model_name:
        words.append(f"--output-dir {args.output_dir}")
    return " ".join(words)


def _after_move(args: argparse.Namespace, config: PipelineConfig, move: LabelMove) -> None:
    """Say what is served now; the registry's aliases follow only labels that really moved."""
    _print_written(args.output_dir)
    served = move.loading if move.pending and move.loading else move.final
    print(f"model {served.model_name}: versions {list(served.versions)}, labels {served.labels}")
    if not move.pending:
        aliases_after_rollback(config, move.final.labels)
        return
    versions = ", ".join(map(str, move.pending))
    moves = ", ".join(f"{label} -> version {v}" for label, v in move.moved.items())
    print(f"pending: {moves}: TF Serving refuses to move an assigned label to a version it has "
          f"not loaded, so models.config now serves version(s) {versions} with the labels "
          "unchanged; nothing is recorded until the labels move")
    print(f"complete it once version(s) {versions} are AVAILABLE: {_complete_command(args, config)}"
          " --server HOST:8500 (waits for it; without --server, on your word)")


def _note_replaced(output_dir: Path, model_name: str) -> None:
    """A new release replaces a pending one: say so, so it is not lost silently."""
    pending = read_pending(output_dir, model_name)
    if pending is not None:
        moves = ", ".join(f"{k} -> version {v}" for k, v in pending.target.labels.items())
        print(f"replacing the pending release ({moves}) with this one")


def _plan(args: argparse.Namespace, config: PipelineConfig,
          known: list[int]) -> tuple[ServingPlan, int | None]:
    """What serving-config asks for (a rollback pin holds unless --release), and that pin."""
    pin = pinned_version(args.output_dir, known)
    plan = plan_config(config.model_name, _server_base_path(config, args.server_model_dir), known,
                       stable=None if args.release else pin, canary=args.canary, keep=args.keep)
    return plan, pin


def _serving_config(args: argparse.Namespace) -> int:
    """Write the config files for the versions MLMD knows; a rollback pin holds until released;
    --complete finishes a pending release instead."""
    config = _config(args)
    if args.complete:  # bad input fails before the lock creates anything
        pending_release(args.output_dir, config.model_name)
    else:
        _plan(args, config, known_versions(config)[0])
    with config_lock(args.output_dir):
        return _write_serving_config(args, config)


def _write_serving_config(args: argparse.Namespace, config: PipelineConfig) -> int:
    """serving-config's work, under the config folder's lock."""
    current = _current_plan(args.output_dir, config.model_name)
    if args.complete:
        _after_move(args, config, complete_release(current, args.output_dir, config.model_name,
                                                   args.server, args.timeout))
        return 0
    known, unrecorded = known_versions(config)
    _note_unrecorded(unrecorded)
    plan, pin = _plan(args, config, known)
    pinned = None if args.release else pin
    record = None
    if pin is not None and args.release:
        record = {"action": "release", "model": config.model_name, "from": pin, "to": known[-1],
                  "reason": args.reason}
    _note_replaced(args.output_dir, config.model_name)
    move = move_labels(current, plan, args.output_dir, args.server, args.timeout, record=record)
    _after_move(args, config, move)
    if pinned is not None:
        print(f"stable stays pinned to version {pinned} by a rollback "
              f"(newest is {known[-1]}; --release to follow the newest again)")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    """Point `stable` at another version as TF Serving accepts it: unknown versions leave every
    file untouched, and an unconfirmed version leaves the label where it was."""
    config = _config(args)
    read_plan(args.output_dir / MODELS_CONFIG, config.model_name)  # no config: nothing to lock
    with config_lock(args.output_dir):
        return _move_stable(args, config)


def _move_stable(args: argparse.Namespace, config: PipelineConfig) -> int:
    """rollback's work, under the config folder's lock."""
    models_config = args.output_dir / MODELS_CONFIG
    current = read_plan(models_config, config.model_name)
    known, unrecorded = known_versions(config)
    _note_unrecorded(unrecorded)
    plan = rollback_plan(current, args.to, known)
    _note_replaced(args.output_dir, config.model_name)
    record = {"action": "rollback", "model": config.model_name,
              "from": current.labels.get(STABLE), "to": args.to, "reason": args.reason}
    move = move_labels(current, plan, args.output_dir, args.server, args.timeout, record=record)
    if not move.pending:
        print(f"stable: version {record['from']} -> {record['to']} in {shown_path(models_config)}")
    _after_move(args, config, move)
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
    write.add_argument("--complete", action="store_true",
                       help="finish a pending release: move the labels once the versions phase 1 "
                            "serves are AVAILABLE (confirmed with --server, else on your word)")
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
    parser.add_argument("--server", metavar="HOST:PORT", action="append",
                        help="TF Serving's gRPC address, repeatable (one per replica): a label "
                             "moves to a version only once GetModelStatus reports it AVAILABLE "
                             "on each; without it such a move stops after phase 1, pending")
    parser.add_argument("--timeout", type=positive_float, default=DEFAULT_TIMEOUT,
                        help=f"seconds to wait for that (default {DEFAULT_TIMEOUT:g}; the server "
                             "re-reads models.config every --model_config_file_poll_wait_seconds)")
