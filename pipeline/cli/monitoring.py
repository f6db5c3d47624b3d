"""`monitor`: skew and drift of production data against the serving model's training data."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pipeline.cli.common import store_arguments
from pipeline.config import STATE_DIR


def _monitor(args: argparse.Namespace) -> int:
    """Check production data against the serving model's training data and the last window."""
    import datetime as dt

    from pipeline.config import store_config
    from pipeline.metadata import connection

    config = store_config(os.environ, args)
    try:
        store = connection.open_metadata(config)
    except connection.LineageError as error:
        # Exit 1 means "alert"; a monitor that could not look is exit 2.
        print(f"error: {error}", file=sys.stderr)
        return 2
    from pipeline.monitoring import skew_drift

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    report_dir = args.report_dir or args.state_dir / "reports" / stamp
    try:
        result = skew_drift.monitor(args.file, store, config.pipeline_name, args.state_dir,
                                    report_dir, args.previous)
    except skew_drift.MonitoringError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for kind in ("schema", "skew", "drift"):
        for problem in getattr(result, kind):
            print(f"{kind.upper():7}{problem}")
    print(("ALERT" if result.alert else "OK") + f": report {result.report_path}")
    return 1 if result.alert else 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register `monitor`."""
    watch = commands.add_parser("monitor", help="skew and drift report on production data")
    watch.add_argument("file", type=Path, help="CSV of production requests (no label column)")
    watch.add_argument("--previous", type=Path,
                       help="previous window (CSV or .pb stats); default: the last one monitored")
    store_arguments(watch)
    watch.add_argument("--state-dir", type=Path, default=STATE_DIR / "monitoring")
    watch.add_argument("--report-dir", type=Path, help="default: <state-dir>/reports/<time>")
    watch.set_defaults(handler=_monitor)
