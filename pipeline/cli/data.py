"""`check-data` and `ingest`: the input checks on their own."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pipeline.cli.common import project_argument, store_arguments
from pipeline.config import (
    add_run_arguments,
    config_from_args,
    config_from_values,
    env_values,
    local_path,
    store_config,
)
from pipeline.data import ingest, spans
from pipeline.data.preflight import check_data_dir, check_window, input_files
from pipeline.data.spans import local_data_dir
from pipeline.errors import WorkFailed
from pipeline.logs import shown_path, verbose_output_to

# TFDV's and Beam's own output while check-data computes the statistics of the data.
CHECK_DATA_LOG = "check-data.log"
# Theirs while ingest computes the statistics of the file it lands.
INGEST_LOG = "ingest.log"


def _check_data(args: argparse.Namespace) -> int:
    """`check-data`: the runner's input check alone, for other orchestrators' first task."""
    from pipeline.data import validation

    config = config_from_args(args, os.environ)
    data_dir = local_data_dir(config)
    report = check_data_dir(data_dir, config.schema_path, config.max_row_bytes, config.declaration)
    check_window(data_dir, [report], config.declaration)
    with verbose_output_to(config.log_dir / CHECK_DATA_LOG):
        verdict = validation.folder_verdict(input_files(data_dir), config.schema_path,
                                            config.declaration)
    if verdict.stops:
        raise WorkFailed(f"{len(verdict.schema_skew)} data anomalies in {shown_path(config.data_dir)}, a run "
                         "would stop before Transform:\n  " + "\n  ".join(verdict.schema_skew))
    for line in verdict.value_skew:
        print(f"value skew (recorded, not a stop): {line}")
    print(f"ok: {report.rows} rows in {report.files} file(s) of {shown_path(config.data_dir)}")
    return 0


def _ingest(args: argparse.Namespace) -> int:
    """Land a CSV file as the next span of the data dir, or say why not."""
    environ = env_values(os.environ)
    # The data dir may not exist yet (ingest creates it): it is not validated as a config field.
    landing = args.data or environ.pop("data_dir", None)
    values = {**environ, **{k: v for k, v in (("project", args.project), ("schema_path", args.schema))
                            if v is not None}}
    config = config_from_values(values)
    if config.schema_path is None:
        raise WorkFailed(f"project {config.project} infers its schema: ingest needs a curated one "
                         "(--schema)")
    data_dir = Path(landing) if landing else Path(str(config.data_dir))
    try:
        with verbose_output_to(config.log_dir / INGEST_LOG):
            landing = ingest.ingest(args.file, data_dir, config.schema_path,
                                    config.declaration.validation)
    except spans.SpanError as error:
        # A rejected file is failed work (exit 1), not a config error.
        raise WorkFailed(f"rejected {args.file}: {error}") from error
    print("\n".join(_landing_lines(args.file, data_dir, landing)))
    return 0


def _landing_lines(source: Path, data_dir: Path, landing: ingest.Landing) -> list[str]:
    """What ingest did, in the order it happened; an already landed file is said so, not an error
    (a retried ingest task must neither fail nor land a duplicate span)."""
    if landing.duplicate_of is not None:
        return [f"already landed: {source} has the same bytes as {landing.duplicate_of} "
                f"(span {landing.span}); nothing landed"]
    lines = []
    if landing.converted:
        lines.append(f"converted {data_dir} to span folders: its {len(landing.converted)} data "
                     f"file(s) are now span 1 ({spans.span_dir(data_dir, 1)}/)")
    lines.append(f"landed {source} as {spans.span_dir(data_dir, landing.span)}")
    return lines
def _accept_drift(args: argparse.Namespace) -> int:
    """Accept the drift that stopped the latest run, so the next run trains on the new data."""
    from pipeline.run.drift_acceptance import accept_drift

    config = store_config(os.environ, args)
    run_id, accepted = accept_drift(config, args.reason)
    for record in accepted:
        print(f"accepted   {record.text()}")
    print(f"drift of run {run_id} accepted in {shown_path(config.metadata_path)}: the next `run --project "
          f"{config.project}` trains on this data")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register `check-data`, `ingest` and `accept-drift`."""
    check = commands.add_parser("check-data", help="check the input CSV files against the schema")
    add_run_arguments(check)
    check.set_defaults(handler=_check_data)

    ingest = commands.add_parser("ingest", help="validate a CSV and land it as the next span")
    ingest.add_argument("file", type=local_path)
    project_argument(ingest)
    ingest.add_argument("--data", type=local_path,
                        help="data dir (default: the project's); a plain folder of CSV files "
                             "becomes span folders, its files span 1")
    ingest.add_argument("--schema", type=local_path, help="curated schema (default: the project's)")
    ingest.set_defaults(handler=_ingest)

    accept = commands.add_parser(
        "accept-drift", help="accept the drift that stopped the latest run (validation.drift: stop)")
    store_arguments(accept)
    accept.add_argument("--reason", default="", help="why the drift is the new normal (recorded)")
    accept.set_defaults(handler=_accept_drift)
