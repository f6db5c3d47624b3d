"""`feedback`: late labels joined to the prediction log, live metrics per model version recorded
in ML Metadata (exit 1 when a served model crosses a live bound); `promote`: the canary becomes
`stable` when its live metrics are no worse than the champion's on enough labelled rows."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os

from pipeline.cli.common import command_log, positive_float, pushed_model_arguments, store_arguments
from pipeline.config import PipelineConfig, local_path, store_config
from pipeline.errors import EXIT_FAILED
from pipeline.logs import shown_path, verbose_output_to
from pipeline.mirror.hooks import aliases_after_rollback
from pipeline.serving.release import DEFAULT_TIMEOUT
from pipeline.serving.server_config import DEFAULT_OUTPUT_DIR, MODELS_CONFIG


def _config(args: argparse.Namespace) -> PipelineConfig:
    """The project's store, serving dir and model name."""
    return store_config(os.environ, args, extra=("serving_dir", "model_name", "tracking_uri"))


def _metrics_text(metrics: dict[str, float]) -> str:
    return "  ".join(f"{name} {value:.4f}" for name, value in metrics.items()) or "no metric defined"


def _feedback(args: argparse.Namespace) -> int:
    """Measure the labelled rows; print the report (or one JSON object with --json)."""
    from pipeline.scoring.feedback import feedback

    config = _config(args)
    with verbose_output_to(command_log(config, "feedback")):
        result = feedback(config, args.labels)
    if args.json:
        answer = dataclasses.asdict(result)
        answer.update(labels_file=str(result.labels_file), breached=result.breached)
        print(json.dumps(answer, sort_keys=True))
        return EXIT_FAILED if result.breached else 0
    joined = result.labels - result.unscored
    print(f"feedback    batch {result.step} ({result.feedback_id}): {result.labels} labels, "
          f"{joined} joined to logged predictions, {result.unscored} never scored"
          + (f" (e.g. {', '.join(result.unscored_examples)})" if result.unscored else ""))
    for model in result.models:
        verdict = "ALERT " + "; ".join(model.breaches) if model.breaches else "ok"
        if model.breaches and model.shadow_only:
            verdict = "below bounds (shadow only: " + "; ".join(model.breaches) + ")"
        print(f"version {model.version} ({', '.join(model.roles)})  rows {model.rows}  "
              f"{_metrics_text(model.metrics)}  {verdict}")
        for feature, values in model.slices.items():
            for value, metrics in values.items():
                named = {k: v for k, v in metrics.items() if k != "rows"}
                print(f"  slice {feature}={value}  rows {int(metrics['rows'])}  "
                      f"{_metrics_text(named)}")
    if result.comparison is not None:
        c = result.comparison
        print(f"compare     canary version {c.challenger} vs stable version {c.champion} on "
              f"{c.rows} rows both scored: {c.reason} "
              f"({'no worse' if c.no_worse else 'worse'})")
    print(f"kept        {shown_path(result.labels_file)}")
    return EXIT_FAILED if result.breached else 0


def _promote(args: argparse.Namespace) -> int:
    """Promote the canary or refuse (exit 1), saying why; the registry's aliases follow."""
    from pipeline.scoring.promotion import promote

    config = _config(args)
    config_dir = args.config_dir or DEFAULT_OUTPUT_DIR / config.model_name
    with verbose_output_to(command_log(config, "promote")) as console:
        say = (lambda text: None) if args.json else functools.partial(print, file=console)
        result = promote(config, config_dir, args.server, args.timeout, say)
    if result.promoted:
        aliases_after_rollback(config, result.labels)
    if args.json:
        print(json.dumps({**dataclasses.asdict(result), "models_config":
                          str(config_dir / MODELS_CONFIG)}, sort_keys=True))
    else:
        verdict = "promoted" if result.promoted else "refused "
        print(f"{verdict}    {result.reason}")
        print(f"stable      {_metrics_text(result.comparison.champion_metrics)}")
        print(f"canary      {_metrics_text(result.comparison.challenger_metrics)}")
        print(f"labels      {result.labels} in {shown_path(config_dir / MODELS_CONFIG)}")
    return 0 if result.promoted else EXIT_FAILED


def add_commands(commands: argparse._SubParsersAction) -> None:
    """`feedback --labels PATH` and `promote`."""
    parser = commands.add_parser(
        "feedback", help="join late labels to the prediction log: live metrics per model version "
                         "and slice, recorded in ML Metadata (exit 1 when a live bound is crossed)")
    store_arguments(parser)
    parser.add_argument("--labels", type=local_path, required=True, metavar="PATH",
                        help="CSV of the project's id column and its label column")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.set_defaults(handler=_feedback)
    promote = commands.add_parser(
        "promote", help="move 'stable' to the canary when its live metrics are no worse on enough "
                        "labelled rows, else refuse saying why (exit 1); recorded in ML Metadata")
    store_arguments(promote)
    pushed_model_arguments(promote)
    promote.add_argument("--model-name", dest="model_name",
                         help="model name under the serving dir (default: the project name)")
    promote.add_argument("--server", metavar="HOST:PORT",
                         help="TF Serving's gRPC address: stable moves once it reports the "
                              "canary AVAILABLE")
    promote.add_argument("--timeout", type=positive_float, default=DEFAULT_TIMEOUT,
                         help=f"seconds to wait for that (default {DEFAULT_TIMEOUT:g})")
    promote.add_argument("--json", action="store_true", help="one JSON object on stdout")
    promote.set_defaults(handler=_promote)
