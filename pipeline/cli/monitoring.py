"""`monitor`: skew and drift of production data against the serving model's training data."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pipeline.cli.common import store_arguments
from pipeline.config import STATE_DIR, local_path, store_config
from pipeline.errors import EXIT_INVALID
from pipeline.metadata import connection
from pipeline.serving.server_config import DEFAULT_OUTPUT_DIR as SERVING_CONFIG_DIR
from pipeline.serving.server_config import MODELS_CONFIG, STABLE, read_plan


def _monitor(args: argparse.Namespace) -> int:
    """Check production data against the serving model's training data and the last window."""
    import datetime as dt

    config = store_config(os.environ, args)
    store = connection.open_metadata(config)
    from pipeline.monitoring import skew_drift

    served = stable_version(args.serving_config_dir or SERVING_CONFIG_DIR / config.model_name,
                            config.model_name)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    state_dir = args.state_dir or STATE_DIR / "monitoring" / config.project
    report_dir = args.report_dir or state_dir / "reports" / stamp
    result = skew_drift.monitor(args.file, store, config.pipeline_name, state_dir,
                                report_dir, args.previous, config.declaration.feature_names,
                                served, limits=config.declaration.validation)
    for kind in ("schema", "skew", "drift", "value"):
        for problem in getattr(result, kind):
            print(f"{kind.upper():7}{problem}")
    print(("ALERT" if result.alert else "OK") + f": report {result.report_path}")
    return 1 if result.alert else 0


def stable_version(output_dir: Path, model_name: str) -> str | None:
    """The version the `stable` label points at in serving-config's models.config, said on the
    console; None (the newest push) when no config labels one."""
    path = output_dir / MODELS_CONFIG
    label = read_plan(path, model_name).labels.get(STABLE) if path.is_file() else None
    if label is None:
        print(f"baseline: the newest push (no '{STABLE}' label in {path})")
        return None
    print(f"baseline: version {label}, the '{STABLE}' label in {path}")
    return str(label)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register `monitor`."""
    watch = commands.add_parser("monitor", help="skew and drift report on production data")
    watch.add_argument("file", type=local_path, help="CSV of production requests (no label column)")
    watch.add_argument("--previous", type=local_path,
                       help="previous window (CSV or .pb stats); default: the last one monitored")
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
