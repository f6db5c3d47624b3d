"""`monitor`: skew and drift of production data against the serving model's training data."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from pipeline.cli.common import store_arguments
from pipeline.config import STATE_DIR, local_path, store_config
from pipeline.errors import EXIT_INVALID
from pipeline.logs import shown_path, verbose_output_to
from pipeline.metadata import connection
from pipeline.serving.server_config import DEFAULT_OUTPUT_DIR as SERVING_CONFIG_DIR
from pipeline.serving.server_config import MODELS_CONFIG, STABLE, read_plan

if TYPE_CHECKING:
    from pipeline.monitoring import skew_drift

# TensorFlow's, TFDV's and Beam's own output while monitor reads the training examples and the window.
MONITOR_LOG = "monitor.log"


def _monitor(args: argparse.Namespace) -> int:
    """Check production data against the serving model's training data and the last window."""
    import datetime as dt

    config = store_config(os.environ, args)
    store = connection.open_metadata(config)
    from pipeline.monitoring import skew_drift
    from pipeline.monitoring.columns import Watched

    # With --json, stdout is the JSON alone: what is said on the way goes to stderr.
    served = stable_version(args.serving_config_dir or SERVING_CONFIG_DIR / config.model_name,
                            config.model_name, sys.stderr if args.json else sys.stdout)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    state_dir = args.state_dir or STATE_DIR / "monitoring" / config.project
    report_dir = args.report_dir or state_dir / "reports" / stamp
    with verbose_output_to(config.log_dir / MONITOR_LOG):
        result = skew_drift.monitor(args.file, store, config.pipeline_name, state_dir, report_dir,
                                    Watched.from_project(config.declaration), args.previous,
                                    served, limits=config.declaration.validation)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print_result(result)
    return 1 if result.alert else 0


def print_result(result: skew_drift.MonitoringResult) -> None:
    """Each comparison (distance, value, threshold), what is unmonitored and why, the verdict;
    value skew (growth) is printed, never an alert."""
    from pipeline.data.drift import DISTANCE_NAMES

    print(f"window: {result.rows} rows")
    for check in result.checks:
        sign, verdict = (">", "ALERT") if check.crossed else ("<=", "ok")
        print(f"{check.comparison:5}  {check.feature:24} {DISTANCE_NAMES[check.kind]:16} "
              f"{check.value:7.3f} {sign:2} {check.threshold.value:.3f}  {verdict}")
    for name, reason in result.unmonitored.items():
        print(f"not monitored: {name}: {reason}")
    for name, reason in result.not_required.items():
        print(f"not required:  {name}: {reason}")
    for kind in ("schema", "skew", "drift", "value"):
        for problem in getattr(result, kind):
            print(f"{kind.upper():7}{problem}")
    report = result.report_path and shown_path(result.report_path)
    print(("ALERT" if result.alert else "OK") + f": report {report}")


def stable_version(output_dir: Path, model_name: str, stream: TextIO | None = None) -> str | None:
    """The version the `stable` label points at in serving-config's models.config, said on the
    console; None (the newest push) when no config labels one."""
    stream = stream or sys.stdout
    path = output_dir / MODELS_CONFIG
    label = read_plan(path, model_name).labels.get(STABLE) if path.is_file() else None
    if label is None:
        print(f"baseline: the newest push (no '{STABLE}' label in {shown_path(path)})", file=stream)
        return None
    print(f"baseline: version {label}, the '{STABLE}' label in {shown_path(path)}", file=stream)
    return str(label)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register `monitor`."""
    watch = commands.add_parser("monitor", help="skew and drift report on production data")
    watch.add_argument("file", type=local_path, help="CSV of production requests (no label column)")
    watch.add_argument("--previous", type=local_path,
                       help="previous window (CSV); default: the last one monitored")
    watch.add_argument("--json", action="store_true",
                       help="print the result as JSON: each comparison, what is not monitored")
    store_arguments(watch)
    watch.add_argument("--state-dir", type=local_path,
                       help="where the last window's statistics are kept "
                            "(default state/monitoring/<project>)")
    watch.add_argument("--report-dir", type=local_path, help="default: <state-dir>/reports/<time>")
    watch.add_argument("--serving-config-dir", type=local_path,
                       help="folder of serving-config's models.config, whose 'stable' label names "
                            "the version compared against (default serving/<model-name>)")
    # Exit 1 is an alert: any failure to run (no store, no served model, bad file) exits 2.
    watch.set_defaults(handler=_monitor, cannot_run_exit_code=EXIT_INVALID)
