"""`run`, `infer-schema` and `reproduce`: the pipeline run locally with LocalDagRunner."""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.cli.common import store_arguments
from pipeline.cli.mirror import sync_after_run
from pipeline.config import (
    STATE_DIR,
    PipelineConfig,
    add_run_arguments,
    config_from_args,
    local_path,
    store_config,
)
from pipeline.errors import EXIT_NOT_BLESSED
from pipeline.logs import shown_path
from pipeline.metadata import connection, records
from pipeline.run.run_reason import reason_argument
from pipeline.serving.server_config import DEFAULT_OUTPUT_DIR
from pipeline.vocabulary import REASON_BY_HAND, SCHEMA_FILE

if TYPE_CHECKING:
    from pipeline.config.project import Project
    from pipeline.metadata.summary import RunSummary
    from pipeline.run import reproduce

INFORMATIONAL_CHECKS = ("git_commit", "packages", "uv_lock_sha256")
BLOCKING_CHECKS = ("code_fingerprint", "data_fingerprint")


def _run(args: argparse.Namespace) -> int:
    """Run the whole pipeline locally and print the summary."""
    config = config_from_args(args, os.environ)
    from pipeline.run.local_runner import PipelineRunError, report, run_pipeline

    try:
        result = run_pipeline(config, reuse_unchanged=not args.force, start_over=args.start_over,
                              reason=args.reason)
    except PipelineRunError:
        # A component failed (the DataGate too): ML Metadata recorded the run, MLflow shows it.
        # Refusals before the first component (pre-flight, lock) recorded nothing to mirror.
        sync_after_run(config)
        raise
    code = EXIT_NOT_BLESSED if result.summary.blessed is False else 0
    if args.json:
        record = summary_record(result.summary, config.declaration)
        print(json.dumps({**record, "exit_code": code}, sort_keys=True))
    else:
        print(report(result, config))
    if not result.reused:  # an unchanged re-run recorded nothing new (and stays TF- and MLflow-free)
        _as_canary(config, result.summary.pushed_version, args.serving_config_dir)
        sync_after_run(config)
    return code


def summary_record(summary: RunSummary, project: Project) -> dict[str, object]:
    """The run's outcome for scripts: `status` is "pushed", "not_blessed", "not_pushed" (blessed,
    e.g. the identical model already served) or "not_evaluated"."""
    if summary.blessed is None:
        status = "not_evaluated"
    elif not summary.blessed:
        status = "not_blessed"
    else:
        status = "pushed" if summary.pushed_version else "not_pushed"
    return {"run_id": summary.run_id, "status": status, "blessed": summary.blessed,
            "blessing_reason": summary.blessing_reason,
            "metrics": project.named_metrics(summary.metrics),
            "baseline": {model: {name: value if math.isfinite(value) else None
                                 for name, value in metrics.items()}
                         for model, metrics in summary.baseline.items()},
            "baseline_gate": summary.gate,
            "decision_threshold": (summary.decision_threshold.__dict__
                                   if summary.decision_threshold else None),
            "push_decision": summary.push_decision, "pushed_version": summary.pushed_version}


def _as_canary(config: PipelineConfig, pushed: str | None, config_dir: Path | None) -> None:
    """Under `promotion: {mode: canary}`, a newly pushed version is labelled canary while stable
    stays (serving/canary.label_new_push, as the Airflow DAG's canary task does)."""
    from pipeline.serving.canary import canary_line, label_new_push

    folder = config_dir or DEFAULT_OUTPUT_DIR / config.model_name
    labels = label_new_push(config, pushed, folder)
    if labels and pushed:
        print(canary_line(config, pushed, labels, folder))


def _infer_schema(args: argparse.Namespace) -> int:
    """Write SchemaGen's inferred schema to a review location, never over the curated one."""
    config = config_from_args(args, os.environ)
    from pipeline.run.local_runner import infer_schema

    written = infer_schema(config, args.output)
    print(f"inferred schema written to {shown_path(written)}")
    if config.schema_path is not None:
        print(f"review against the curated one: diff -u {shown_path(config.schema_path)} "
              f"{shown_path(written)}")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    """Re-run a recorded run with caching off in a scratch folder and compare its outputs."""
    source = store_config(os.environ, args)
    store = connection.open_metadata(source)
    from pipeline.run import reproduce
    from pipeline.run.local_runner import PipelineRunError, run_pipeline

    run_id = records.latest_run_id(store, source.pipeline_name) \
        if args.run_id == "latest" else args.run_id
    context = reproduce.recorded_context(store, run_id)
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="reproduce-"))
    config = reproduce.scratch_config(context, scratch)
    environment = reproduce.environment_checks(context, config)
    print(f"run {run_id}: span {context.get('data_span')}, commit {context.get('git_commit')}")
    print(format_checks(environment))
    blocking = [c for c in environment if not c.ok and c.name in BLOCKING_CHECKS]
    if any(c.name == "code_fingerprint" for c in blocking) and not args.allow_code_change:
        print("MISMATCH: the project's code changed since the run; refusing (--allow-code-change to force)")
        return 1
    if any(c.name == "data_fingerprint" for c in blocking):
        print("MISMATCH: the run's data files changed since it was recorded; not re-running")
        return 1
    recorded = reproduce.run_outputs(store, run_id)
    print(f"re-running with caching off in {shown_path(scratch)}")
    try:
        result = run_pipeline(config, reason=f"{REASON_BY_HAND}: reproduce {run_id}")
    except PipelineRunError as error:
        raise reproduce.ReproduceError(f"the reproduction failed: {error}") from error
    new_store = connection.open_metadata(config)
    outputs = reproduce.compare_outputs(
        recorded, reproduce.run_outputs(new_store, result.summary.run_id),
        config.declaration.reproducibility,
    )
    print(format_compared(outputs))
    message, code = reproduce.verdict(environment, outputs, INFORMATIONAL_CHECKS)
    print(message)
    return code


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register `run`, `infer-schema` and `reproduce`."""
    run = commands.add_parser("run", help="run the pipeline locally (LocalDagRunner)")
    add_run_arguments(run)
    run.add_argument("--force", action="store_true",
                     help="run every component even when data, schema, code, config and lock "
                          "file are those of the last complete run (TFX's cache still applies)")
    run.add_argument("--start-over", action="store_true",
                     help="run although the metadata store does not know the artifacts in the "
                          "pipeline root (lost, emptied or replaced): this run writes under a "
                          "new folder of the root, every earlier artifact is kept")
    run.add_argument("--json", action="store_true",
                     help="print the summary as one JSON object (status pushed, not_blessed, ...) "
                          "instead of text; exit code 4 when not blessed, as without it")
    run.add_argument("--reason", type=reason_argument, default=REASON_BY_HAND, metavar="TEXT",
                     help="why this run happens, recorded on the run in ML Metadata and shown by "
                          f"`runs` and `lineage` (default: {REASON_BY_HAND}; the loop's schedulers "
                          "pass e.g. 'drift alert: fare')")
    run.add_argument("--serving-config-dir", type=local_path,
                     help="serving-config's folder whose models.config a canary push labels "
                          "(default serving/<model-name>)")
    run.set_defaults(handler=_run)

    infer = commands.add_parser(
        "infer-schema", help="run up to SchemaGen and write its inferred schema for review"
    )
    add_run_arguments(infer)
    infer.add_argument("--output", type=local_path, default=STATE_DIR / "schema" / SCHEMA_FILE,
                       help="where to write the inferred schema.pbtxt")
    infer.set_defaults(handler=_infer_schema)

    again = commands.add_parser("reproduce", help="re-run a recorded run and compare outputs")
    again.add_argument("run_id", help="a run id from MLMD, or 'latest'")
    store_arguments(again)
    again.add_argument("--scratch", type=local_path, help="where to re-run (default: a temp folder)")
    again.add_argument("--allow-code-change", action="store_true",
                       help="re-run even if models/ changed since the recorded run")
    again.set_defaults(handler=_reproduce)


def format_checks(checks: list[reproduce.Check]) -> str:
    """One line per environment check: MATCH or DIFFERS, with both values when they differ."""
    lines = []
    for check in checks:
        if check.ok:
            lines.append(f"  MATCH    {check.name}")
        else:
            lines.append(f"  DIFFERS  {check.name}: recorded {check.recorded[:120]}"
                         f" | now {check.reproduced[:120]}")
    return "\n".join(lines)


def format_compared(results: list[reproduce.Compared]) -> str:
    """One line per output: EXACT, WITHIN (its bound) or DIFFERS, the largest difference found
    and the bound it was held to."""
    return "\n".join(_compared_line(result) for result in results)


def _compared_line(result: reproduce.Compared) -> str:
    bound = f"bound {result.bound.describe()}"
    values = (f"; recorded {result.recorded[:60]}, now {result.reproduced[:60]}"
              if result.recorded and result.recorded != result.reproduced else "")
    if result.problem:
        return f"  DIFFERS  {result.name}: {result.problem} ({bound}){values}"
    where = f" ({result.where})" if result.where and result.largest else ""
    largest = f"largest difference {result.largest:.2g}{where}"
    if not result.ok:
        return (f"  DIFFERS  {result.name}: {largest}, {result.outside} value(s) outside "
                f"{bound}{values}")
    return f"  {'EXACT ' if result.exact else 'WITHIN'}   {result.name}: {largest}, {bound}{values}"
