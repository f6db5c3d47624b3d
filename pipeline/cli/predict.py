"""`predict`: query a TF Serving server with rows of a CSV file."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli.common import positive_float, positive_int
from pipeline.config import PipelineConfig
from pipeline.serving.client import (
    DEFAULT_TIMEOUT,
    RAW_SIGNATURE,
    SERVING_SIGNATURE,
    predict_grpc,
    predict_rest,
)


def _predict(args: argparse.Namespace) -> int:
    """Print one probability per CSV row; a ClientError is one `error:` line and exit code 1."""
    call = predict_rest if args.server else predict_grpc
    probabilities = call(args.server or args.grpc, args.model, args.version, args.label,
                         args.signature, args.file, args.timeout)
    print("row\tprobability")
    for index, probability in enumerate(probabilities, start=1):
        print(f"{index}\t{probability:.6f}")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """`predict`: query a running TF Serving server with the rows of a CSV file."""
    predict = commands.add_parser(
        "predict", help="send CSV rows to TF Serving, print probabilities"
    )
    where = predict.add_mutually_exclusive_group(required=True)
    where.add_argument("--server", help="REST endpoint, e.g. http://localhost:8501")
    where.add_argument("--grpc", help="gRPC endpoint, e.g. localhost:8500")
    predict.add_argument("--model", default=PipelineConfig.model_name, help="served model name")
    which = predict.add_mutually_exclusive_group()
    which.add_argument("--version", type=positive_int, help="a specific version")
    which.add_argument("--label", help="a version label, e.g. stable or canary")
    predict.add_argument("--signature", default=SERVING_SIGNATURE,
                         choices=[SERVING_SIGNATURE, RAW_SIGNATURE])
    predict.add_argument("--timeout", type=positive_float, default=DEFAULT_TIMEOUT, help="seconds")
    predict.add_argument("file", type=Path, help="CSV with the raw feature columns")
    predict.set_defaults(handler=_predict)
