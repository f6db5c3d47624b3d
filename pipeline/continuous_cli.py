"""Commands for continuous training: generate-span, ingest, reproduce, versions, monitor."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from pipeline.config import STATE_DIR, PipelineConfig

DEFAULTS = {f: PipelineConfig.__dataclass_fields__[f].default for f in (
    "data_dir", "schema_path", "metadata_path", "pipeline_name")}
SOURCE_CSV = DEFAULTS["data_dir"] / "data.csv"
INFORMATIONAL_CHECKS = ("git_commit", "packages", "uv_lock_sha256")
BLOCKING_CHECKS = ("code_fingerprint", "data_fingerprint")


def _generate_span(args: argparse.Namespace) -> int:
    """Write a resampled, time-shifted (optionally drifted) CSV for `ingest` or `monitor`."""
    from pipeline import spans

    drift = spans.DEMO_DRIFT if args.drift else spans.NO_DRIFT
    header, rows = spans.generate_rows(args.source, args.rows, args.seed, args.days, drift)
    if args.serving:
        header = [c for c in header if c not in _training_only_columns()]
    spans.write_rows(args.output, header, [{c: r[c] for c in header} for r in rows])
    print(f"wrote {len(rows)} rows to {args.output}" + (" (drifted)" if args.drift else ""))
    return 0


def _training_only_columns() -> set[str]:
    """Columns absent from serving requests: the label sources only training data has."""
    from models import features

    return {features.TIPS_KEY}


def _ingest(args: argparse.Namespace) -> int:
    """Land a CSV file as the next span of the data dir, or say why not."""
    from pipeline import spans

    try:
        span = spans.ingest(args.file, args.data, args.schema)
    except spans.SpanError as error:
        print(f"error: rejected {args.file}: {error}", file=sys.stderr)
        return 1
    print(f"landed {args.file} as {spans.span_dir(args.data, span)}")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    """Re-run a recorded run with caching off in a scratch folder and compare its outputs."""
    from pipeline import lineage, reproduce
    from pipeline.local_runner import PipelineRunError, run_pipeline

    store = lineage.open_store(lineage.sqlite_connection(str(args.metadata)))
    run_id = lineage.latest_run_id(store, args.pipeline_name) if args.run_id == "latest" \
        else args.run_id
    context = reproduce.recorded_context(store, run_id)
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="reproduce-"))
    config = reproduce.scratch_config(context, scratch)
    environment = reproduce.environment_checks(context, config)
    print(f"run {run_id}: span {context.get('data_span')}, commit {context.get('git_commit')}")
    print(reproduce.format_checks(environment))
    blocking = [c for c in environment if not c.ok and c.name in BLOCKING_CHECKS]
    if any(c.name == "code_fingerprint" for c in blocking) and not args.allow_code_change:
        print("MISMATCH: models/ changed since the run; refusing (--allow-code-change to force)")
        return 1
    if any(c.name == "data_fingerprint" for c in blocking):
        print("MISMATCH: the run's data files changed since it was recorded; not re-running")
        return 1
    recorded = reproduce.output_facts(store, run_id)
    print(f"re-running with caching off in {scratch}")
    try:
        result = run_pipeline(config)
    except PipelineRunError as error:
        print(f"error: the reproduction failed: {error}", file=sys.stderr)
        return 1
    new_store = lineage.open_store(lineage.sqlite_connection(str(config.metadata_path)))
    outputs = reproduce.compare_outputs(
        recorded, reproduce.output_facts(new_store, result.summary.run_id)
    )
    checks = environment + outputs
    print(reproduce.format_checks(outputs))
    decisive = [c for c in checks if c.name not in INFORMATIONAL_CHECKS]
    matched = all(c.ok for c in decisive)
    print("REPRODUCED: outputs match" if matched else "MISMATCH: see DIFFERS lines above")
    return 0 if matched else 1


def _monitor(args: argparse.Namespace) -> int:
    """Check production data against the serving model's training data and the last window."""
    import datetime as dt

    from pipeline import lineage, monitoring

    if not args.metadata.is_file():
        print(f"error: no metadata store at {args.metadata}", file=sys.stderr)
        return 2
    store = lineage.open_store(lineage.sqlite_connection(str(args.metadata)))
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    report_dir = args.report_dir or args.state_dir / "reports" / stamp
    try:
        result = monitoring.monitor(args.file, store, args.state_dir, report_dir, args.previous)
    except monitoring.MonitoringError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for kind in ("schema", "skew", "drift"):
        for problem in getattr(result, kind):
            print(f"{kind.upper():7}{problem}")
    print(("ALERT" if result.alert else "OK") + f": report {result.report_path}")
    return 1 if result.alert else 0


def _versions(args: argparse.Namespace) -> int:
    """Print each served version with the span, code, lock and packages it was made from."""
    from pipeline import lineage, versions

    store = lineage.open_store(lineage.sqlite_connection(str(args.metadata)))
    print(versions.format_versions(versions.version_records(store)))
    return 0


def _store_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the pipeline's metadata lives."""
    parser.add_argument("--metadata", type=Path, default=DEFAULTS["metadata_path"],
                        help="ML Metadata SQLite file of the pipeline")
    parser.add_argument("--pipeline-name", default=DEFAULTS["pipeline_name"])


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register generate-span, ingest, reproduce, versions and monitor."""
    generate = commands.add_parser("generate-span", help="write a new realistic span CSV")
    generate.add_argument("output", type=Path)
    generate.add_argument("--source", type=Path, default=SOURCE_CSV)
    generate.add_argument("--rows", type=int, default=250)
    generate.add_argument("--seed", type=int, default=1)
    generate.add_argument("--days", type=int, default=7, help="shift trip start times by days")
    generate.add_argument("--drift", action="store_true", help="shift payment mix, scale fares")
    generate.add_argument("--serving", action="store_true", help="drop label columns (requests)")
    generate.set_defaults(handler=_generate_span)

    ingest = commands.add_parser("ingest", help="validate a CSV and land it as the next span")
    ingest.add_argument("file", type=Path)
    ingest.add_argument("--data", type=Path, default=DEFAULTS["data_dir"])
    ingest.add_argument("--schema", type=Path, default=DEFAULTS["schema_path"])
    ingest.set_defaults(handler=_ingest)

    again = commands.add_parser("reproduce", help="re-run a recorded run and compare outputs")
    again.add_argument("run_id", help="a run id from MLMD, or 'latest'")
    _store_arguments(again)
    again.add_argument("--scratch", type=Path, help="where to re-run (default: a temp folder)")
    again.add_argument("--allow-code-change", action="store_true",
                       help="re-run even if models/ changed since the recorded run")
    again.set_defaults(handler=_reproduce)

    listing = commands.add_parser(
        "versions", help="served versions with their data span, code version and packages")
    _store_arguments(listing)
    listing.set_defaults(handler=_versions)

    watch = commands.add_parser("monitor", help="skew and drift report on production data")
    watch.add_argument("file", type=Path, help="CSV of production requests (no label column)")
    watch.add_argument("--previous", type=Path,
                       help="previous window (CSV or .pb stats); default: the last one monitored")
    _store_arguments(watch)
    watch.add_argument("--state-dir", type=Path, default=STATE_DIR / "monitoring")
    watch.add_argument("--report-dir", type=Path, help="default: <state-dir>/reports/<time>")
    watch.set_defaults(handler=_monitor)
