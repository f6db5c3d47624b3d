"""`predict`: rows of a CSV file through TF Serving, or through the pushed model here without a
server; `score`: batch scoring of a CSV file or folder, logged and recorded in ML Metadata."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from pipeline.cli.common import (
    command_log,
    grpc_target,
    http_url,
    positive_float,
    positive_int,
    project_argument,
    pushed_model_arguments,
    store_arguments,
)
from pipeline.config import PipelineConfig, is_uri, local_path, store_config
from pipeline.errors import InvalidInput
from pipeline.logs import shown_path, verbose_output_to
from pipeline.scoring.class_cut import ClassCut, class_cut
from pipeline.scoring.inference import with_class
from pipeline.serving.client import DEFAULT_TIMEOUT, predict_grpc, predict_rest
from pipeline.serving.layout import model_base_path
from pipeline.serving.server_config import DEFAULT_OUTPUT_DIR
from pipeline.vocabulary import RAW_SIGNATURE, SERVING_SIGNATURE


def _predict(args: argparse.Namespace) -> int:
    """Print each CSV row's outputs (probabilities and classes, or the prediction, by task); a
    binary row's class starts at the answering version's decision threshold."""
    config = _scoring_config(args, {"model_name": args.model})
    with verbose_output_to(command_log(config, "predict")):
        predictions, cut = (_predict_served(args, config) if args.server or args.grpc
                            else _predict_here(args, config))
    if cut is not None and cut.note():
        print(f"note: {cut.note()}", file=sys.stderr)
    names = sorted({name for row in predictions for name in row})
    print("\t".join(["row", *names]))
    for index, row in enumerate(predictions, start=1):
        print("\t".join([str(index), *(_cell(row.get(name)) for name in names)]))
    return 0


def _predict_served(args: argparse.Namespace,
                    config: PipelineConfig) -> tuple[list[dict[str, object]], ClassCut | None]:
    """The server's answers; a binary row's class from the threshold recorded beside the version
    that answered, in the serving dir here (--serving-dir)."""
    call = predict_rest if args.server else predict_grpc
    answer = call(args.server or args.grpc, config.model_name, args.version, args.label,
                  args.signature, args.file, args.timeout)
    here = None if is_uri(str(config.serving_dir)) else Path(config.serving_dir)
    base = model_base_path(here, config.model_name) if here else None
    cut = class_cut(config.declaration, base, answer.version)
    if cut is None:
        return answer.predictions, None
    classes = config.declaration.classes
    return [with_class(row, classes, cut.threshold) for row in answer.predictions], cut


def _predict_here(args: argparse.Namespace,
                  config: PipelineConfig) -> tuple[list[dict[str, object]], ClassCut | None]:
    """No server: the pushed model's serving_default, through batch scoring's code path."""
    from pipeline.scoring.batch import predict_locally

    if args.signature != SERVING_SIGNATURE:
        raise InvalidInput(f"--signature {args.signature} needs --server or --grpc; without a "
                           f"server rows are scored through {SERVING_SIGNATURE}")
    config_dir = args.config_dir or DEFAULT_OUTPUT_DIR / config.model_name
    return predict_locally(config, config_dir, args.file, args.version, args.label)


def _scoring_config(args: argparse.Namespace, values: dict[str, object]) -> PipelineConfig:
    """The project's store, serving dir and model name, as serving-config reads them."""
    flags = {**vars(args), **{k: v for k, v in values.items() if v is not None}}
    return store_config(os.environ, flags, extra=("serving_dir", "model_name"))


def _score(args: argparse.Namespace) -> int:
    """Score the rows; print where the scores are (or one JSON object with --json)."""
    from pipeline.scoring.batch import score

    config = _scoring_config(args, {})
    config_dir = args.config_dir or DEFAULT_OUTPUT_DIR / config.model_name
    with verbose_output_to(command_log(config, "score")):
        result = score(config, args.data, config_dir, args.version, args.label, args.output)
    if args.json:
        print(json.dumps({"rows": result.rows, "model": result.model, "version": result.version,
                          "label": result.label, "output": str(result.output),
                          "shadow_version": result.shadow_version,
                          "shadow_skipped": result.shadow_skipped,
                          "prediction_log": str(result.log_file), "batch_id": result.batch_id,
                          "seconds": round(result.seconds, 3),
                          "rows_per_second": round(result.rows_per_second, 1),
                          "decision_threshold": result.cut.threshold if result.cut else None,
                          "decision_threshold_recorded": bool(result.cut and result.cut.record)}))
        return 0
    chosen = f" (label {result.label})" if result.label else ""
    print(f"scored {result.rows} rows with {result.model} version {result.version}{chosen} in "
          f"{result.seconds:.1f} s ({result.rows_per_second:.0f} rows/s)")
    if result.cut is not None:
        print(f"classes: {result.cut.describe()}")
        if result.cut.note():
            print(f"note: {result.cut.note()}", file=sys.stderr)
    if result.shadow_skipped:
        print(f"warning: {result.shadow_skipped}", file=sys.stderr)
    if result.shadow_version is not None:
        print(f"shadow: the same rows scored by canary version {result.shadow_version} (logged "
              "only; the scores file holds stable's answers)")
    print(f"wrote {shown_path(result.output)}")
    print(f"logged batch {result.batch_id} in {shown_path(result.log_file)}")
    return 0


def _cell(value: object) -> str:
    """Floats to 6 decimals; a list (one value per class) as comma-separated values."""
    if isinstance(value, list):
        return ",".join(_cell(v) for v in value)
    if isinstance(value, float):
        return f"{value:.6f}"
    return "" if value is None else str(value)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """`predict`: the rows of a CSV file through TF Serving or the pushed model; `score`."""
    predict = commands.add_parser(
        "predict", help="send CSV rows to TF Serving (or, without --server/--grpc, score them "
                        "here with the pushed model), print each row's predictions"
    )
    where = predict.add_mutually_exclusive_group()
    where.add_argument("--server", type=http_url, help="REST endpoint, e.g. http://localhost:8501")
    where.add_argument("--grpc", type=grpc_target, help="gRPC endpoint, e.g. localhost:8500")
    project_argument(predict)
    predict.add_argument("--model", help="served model name (default: the project's)")
    which = predict.add_mutually_exclusive_group()
    which.add_argument("--version", type=positive_int, help="a specific version")
    which.add_argument("--label", help="a version label, e.g. stable or canary")
    predict.add_argument("--signature", default=SERVING_SIGNATURE,
                         choices=[SERVING_SIGNATURE, RAW_SIGNATURE])
    predict.add_argument("--timeout", type=positive_float, default=DEFAULT_TIMEOUT, help="seconds")
    predict.add_argument("file", type=local_path, help="CSV with the raw feature columns")
    here = predict.add_argument_group("without --server or --grpc (the pushed model, here)")
    here.add_argument("--metadata", dest="metadata_path", type=local_path,
                      help="ML Metadata SQLite file (default $PIPELINE_METADATA_PATH or "
                           "state/metadata/<project>.sqlite)")
    pushed_model_arguments(here)
    predict.set_defaults(handler=_predict)
    _add_score(commands)


def _add_score(commands: argparse._SubParsersAction) -> None:
    """`score`: batch scoring with a pushed model, no server."""
    score = commands.add_parser(
        "score", help="score a CSV file or folder with a pushed model (no server): scores file, "
                      "prediction log, ML Metadata record")
    store_arguments(score)
    score.add_argument("--data", type=local_path, required=True, metavar="PATH",
                       help="a CSV file, or a folder of them (the files a run would read)")
    which = score.add_mutually_exclusive_group()
    which.add_argument("--version", type=positive_int, help="a pushed version")
    which.add_argument("--label", help="a version label of models.config (default: stable)")
    score.add_argument("--output", type=local_path, metavar="PATH",
                       help="scores CSV (default state/scores/<project>/<time>-<batch>-v<version>.csv)")
    pushed_model_arguments(score)
    score.add_argument("--model-name", dest="model_name",
                       help="model name under the serving dir (default: the project name)")
    score.add_argument("--json", action="store_true", help="one JSON object on stdout")
    score.set_defaults(handler=_score)
