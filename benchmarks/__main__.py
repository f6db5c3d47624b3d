"""`python -m benchmarks`: time the pipeline, compare it with TFX's example, scale it, serve it,
score with it, and run one weekly loop.

Writes results.json, results.md and results.png to --output (benchmarks/results by default).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.harness import MeasuredProcessError
from benchmarks.suite import SuiteOptions


def _positive_float(text: str) -> float:
    """argparse type for scales."""
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    """argparse type for counts."""
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def parse_options(argv: Sequence[str] | None) -> SuiteOptions:
    """Flags to SuiteOptions; defaults are the full benchmark."""
    defaults = SuiteOptions()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    arg = parser.add_argument
    arg("--scales", nargs="+", type=_positive_float, default=list(defaults.scales),
        help="data sizes as multiples of the bundled 15,002 rows (1 = the bundled file); the "
             "smallest also gets the cold/warm, TFX-example and serving measurements")
    arg("--train-steps", type=_positive_int, default=defaults.train_steps,
        help="Trainer steps, for our pipeline and the TFX example alike")
    arg("--no-tfx-example", dest="tfx_example", action="store_false",
        help="skip the side-by-side run of TFX's native-Keras taxi example")
    arg("--no-airflow", dest="airflow", action="store_false",
        help="skip the DAG run on the production Airflow (benchmarks/airflow_run.py)")
    arg("--no-windows", dest="windows", action="store_false",
        help="skip the span-window scenario (Transform's analyzer cache on a sliding last-3)")
    arg("--no-weekly", dest="weekly", action="store_false",
        help="skip the weekly loop's cost (init, then ingest, score, monitor, feedback, run "
             "--spans last-K and promote, each timed)")
    arg("--weekly-rows", type=_positive_int, default=defaults.weekly_rows,
        help="rows of each week's batch in the weekly loop")
    arg("--no-score", dest="score", action="store_false",
        help="skip batch scoring (`score` at every scale against the SavedModel in process)")
    arg("--no-fixed-costs", dest="fixed_costs", action="store_false",
        help="skip measuring the imports a run needs before its first component")
    arg("--serving-calls", type=_positive_int, default=defaults.serving_calls,
        help="timed calls per signature and batch size (a tenth of it at batch 1024)")
    arg("--batch-sizes", nargs="+", type=_positive_int, default=list(defaults.batch_sizes))
    arg("--work-dir", type=Path, default=defaults.work_dir,
        help="where pipeline state, synthetic data and child logs go (emptied per run)")
    arg("--output", dest="output_dir", type=Path, default=defaults.output_dir,
        help="where results.json, results.md and results.png are written")
    arg("--seed", type=int, default=defaults.seed, help="seed of the synthetic data")
    arg("--timeout", type=_positive_float, default=defaults.timeout,
        help="seconds before one child process is killed")
    arg("--data-dir", type=Path, default=defaults.data_dir,
        help="a folder of synthetic copies made before with the same seed, as x<scale> "
             "(`python -m tools.synthesize --scale 10 --output DIR/x10`): used instead of "
             "synthesizing them again")
    arg("--no-profile", dest="profile", action="store_false",
        help="skip the profiled cold run (each component's executor under cProfile, Beam in one "
             "process)")
    arg("--profile-scale", type=_positive_float, default=defaults.profile_scale,
        help="the profiled run's scale: the largest measured scale up to it (default 10)")
    arg("--record-reference", action="store_true",
        help="write the end-to-end cold run's metrics, blessing and pushed version as the "
             "reference of its scale and steps (benchmarks/reference/), then compare with it")
    arg("--no-assert", dest="assert_results", action="store_false",
        help="exit 0 even when the results differ from the reference or an unchanged re-run "
             "pushed")
    arg("--reference-dir", type=Path, default=defaults.reference_dir,
        help="where the committed references are")
    arg("--pipeline-args", default="",
        help="extra flags for `python -m pipeline run`, e.g. '--beam-mode multi_processing'")
    values = vars(parser.parse_args(argv))
    values["scales"] = tuple(values["scales"])
    values["batch_sizes"] = tuple(values["batch_sizes"])
    values["pipeline_args"] = tuple(shlex.split(values["pipeline_args"]))
    return SuiteOptions(**values)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite; a failed child stops it with the child's log named, results so far kept;
    results that differ from the reference exit 1 after everything is written."""
    from benchmarks import reference
    from benchmarks.suite import Suite

    options = parse_options(argv)
    suite = Suite(options)
    try:
        suite.run()
    except MeasuredProcessError as error:
        suite.save()
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"results in {options.output_dir}")
    different = reference.failures(suite.results)
    for line in different:
        print(f"error: not identical: {line}", file=sys.stderr)
    return 1 if different and options.assert_results else 0


if __name__ == "__main__":
    sys.exit(main())
