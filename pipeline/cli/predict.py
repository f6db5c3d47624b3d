"""`predict`: query a TF Serving server with rows of a CSV file."""

from __future__ import annotations

import argparse
import os

from pipeline.cli.common import (
    grpc_target,
    http_url,
    positive_float,
    positive_int,
    project_argument,
)
from pipeline.config import local_path, store_config
from pipeline.serving.client import DEFAULT_TIMEOUT, predict_grpc, predict_rest
from pipeline.vocabulary import RAW_SIGNATURE, SERVING_SIGNATURE


def _predict(args: argparse.Namespace) -> int:
    """Print each CSV row's outputs (probabilities and classes, or the prediction, by task)."""
    model = args.model or store_config(os.environ, args).model_name
    call = predict_rest if args.server else predict_grpc
    predictions = call(args.server or args.grpc, model, args.version, args.label,
                       args.signature, args.file, args.timeout)
    names = sorted({name for row in predictions for name in row})
    print("\t".join(["row", *names]))
    for index, row in enumerate(predictions, start=1):
        print("\t".join([str(index), *(_cell(row.get(name)) for name in names)]))
    return 0


def _cell(value: object) -> str:
    """Floats to 6 decimals; a list (one value per class) as comma-separated values."""
    if isinstance(value, list):
        return ",".join(_cell(v) for v in value)
    if isinstance(value, float):
        return f"{value:.6f}"
    return "" if value is None else str(value)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """`predict`: query a running TF Serving server with the rows of a CSV file."""
    predict = commands.add_parser(
        "predict", help="send CSV rows to TF Serving, print each row's predictions"
    )
    where = predict.add_mutually_exclusive_group(required=True)
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
    predict.set_defaults(handler=_predict)
