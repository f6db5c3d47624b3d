"""`python -m pipeline runs | lineage | diff`: questions over ML Metadata from the command line."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pipeline.cli.common import store_arguments, version_number
from pipeline.config import PipelineConfig, is_uri, store_config
from pipeline.config.project import UNDEFINED, Project
from pipeline.logs import relative_paths, shown_path
from pipeline.metadata import connection, drift, live_evaluations, provenance, pushes, records, summary
from pipeline.metadata.provenance import same_value
from pipeline.serving import layout

ROWS = "example_count"  # TFMA's ExampleCount, every slice's row count
LINEAR = "linear"  # the reference model `runs` shows beside the model (pipeline.data.baseline)

T = TypeVar("T")


# Facts that always differ between two pushes, so listing them as "changes" says nothing.
IDENTITY_FIELDS = (
    "run_id", "push.", "training.trainer_run", "training.model_uri",
    "evaluation.evaluation_uri", "evaluation.baseline",
)
# Facts whose sameness is worth saying out loud when nothing about them changed.
KEY_FIELDS = {
    "data.input_fingerprint": "input data",
    "training.code_fingerprint": "project code",
    "config.declaration": "declaration",
    "validation.schema_uri": "schema",
    "training.hyperparameters": "hyperparameters",
    "training.train_steps": "train steps",
}
VALUE_WIDTH = 44


def _versions(args: argparse.Namespace) -> int:
    """Print each served version with the span, code, lock and packages it was made from."""
    config = store_config(os.environ, args, extra=("serving_dir", "model_name"))
    store = connection.open_metadata(config)
    recorded = pushes.version_records(store, config.pipeline_name)
    # Versions the store lost are looked for on a local serving dir (an object store is not listed).
    on_disk_only = [] if is_uri(config.serving_dir) else layout.unrecorded_versions(
        layout.model_base_path(Path(config.serving_dir), config.model_name),
        {record.version for record in recorded})
    print(format_versions(recorded, on_disk_only))
    return 0


def _add_store_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the store is and which pipeline to read; --json for scripts."""
    store_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """`runs`, `lineage`, `diff` and `versions`."""
    runs = commands.add_parser("runs", help="list the pipeline's runs recorded in ML Metadata")
    _add_store_arguments(runs)
    runs.set_defaults(handler=_reporting(_runs))
    report = commands.add_parser(
        "lineage", help="which data, code, config and metrics produced a served model version")
    which = report.add_mutually_exclusive_group()
    which.add_argument("--version", type=version_number, help="serving version to explain")
    which.add_argument("--latest", action="store_true", help="the latest pushed version (default)")
    report.add_argument("--slices", action="store_true",
                        help="also the model's metrics on every declared slice (reads TFMA's output)")
    _add_store_arguments(report)
    report.set_defaults(handler=_reporting(_lineage))
    diff = commands.add_parser("diff", help="config, data fingerprints and metrics of two runs")
    diff.add_argument("run_a", metavar="RUN_A", help="run id (see `runs`), or 'latest'")
    diff.add_argument("run_b", metavar="RUN_B", help="run id (see `runs`), or 'latest'")
    _add_store_arguments(diff)
    diff.set_defaults(handler=_reporting(_diff))

    listing = commands.add_parser(
        "versions", help="served versions with their data span, code version and packages")
    store_arguments(listing)
    listing.add_argument("--serving-dir", dest="serving_dir", type=Path,
                         help="TF Serving base path whose versions are listed too when the store "
                              "does not record them (default $PIPELINE_SERVING_DIR or "
                              "state/serving_model)")
    listing.set_defaults(handler=_versions)


Handler = Callable[[argparse.Namespace, connection.Store, PipelineConfig], str]


def _reporting(handler: Handler) -> Callable[[argparse.Namespace], int]:
    """Open the store, print what the handler returns (text: paths under the working directory
    relative; --json: as recorded); a missing thing is a LineageError."""
    def run(args: argparse.Namespace) -> int:
        config = store_config(os.environ, args)
        text = handler(args, connection.open_metadata(config), config)
        print(text if getattr(args, "json", False) else relative_paths(text))
        return 0
    return run


def _to_json(value: object) -> str:
    """JSON with dataclasses as objects and datetimes as ISO strings."""
    def encode(item: object) -> object:
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            return dataclasses.asdict(item)
        return item.isoformat() if hasattr(item, "isoformat") else str(item)
    return json.dumps(value, indent=2, default=encode)


# --- runs -------------------------------------------------------------------------------------


def _runs(args: argparse.Namespace, store: connection.Store, config: PipelineConfig) -> str:
    """Every run: start, duration, status, how many components ran or came from cache, the
    project's primary metric and the push."""
    pipeline_name, project = config.pipeline_name, config.declaration
    runs = records.list_runs(store, pipeline_name)
    if not runs:
        raise connection.LineageError(f"no runs of pipeline '{pipeline_name}' in the metadata store")
    evaluations = {run.run_id: _evaluation(store, project, run.run_id) for run in runs}
    live = live_evaluations.latest_live(store, pipeline_name)
    lives = {run.run_id: live.get(run.pushed_version or "") for run in runs}
    drifts = {run.run_id: drift.run_drift(store, run.run_id) for run in runs}
    if args.json:
        return _to_json([{**_run_json(run), **evaluations[run.run_id],
                          "live": _live_json(lives[run.run_id]), "drift": drifts[run.run_id]}
                         for run in runs])
    primary = project.primary_metric.name
    rows = [("RUN ID", "STARTED (UTC)", "SECONDS", "STATUS", "RAN", "CACHED", primary.upper(),
             f"LINEAR {primary.upper()}", f"LIVE {primary.upper()}", "PUSHED", "DRIFT", "REASON")]
    rows += [(
        run.run_id, f"{run.started:%Y-%m-%d %H:%M:%S}", f"{run.seconds:.1f}", _status(run),
        str(len(run.states) - len(run.cached)), str(len(run.cached)),
        _metric_cell(evaluations[run.run_id]["metrics"], primary),
        _metric_cell(evaluations[run.run_id]["baseline"].get(LINEAR, {}), primary),
        _live_cell(lives[run.run_id], primary), run.pushed_version or "-",
        _drift_cell(drifts[run.run_id]), run.reason or "-",
    ) for run in runs]
    return _table(rows)


def _live_json(live: live_evaluations.LiveEvaluation | None) -> dict[str, object] | None:
    """The newest live metrics of the version a run pushed (None before any feedback)."""
    if live is None:
        return None
    return {"metrics": live.metrics, "step": live.step, "rows": live.rows,
            "breaches": live.breaches}


def _live_cell(live: live_evaluations.LiveEvaluation | None, name: str) -> str:
    """`0.9012 (step 3)`: the newest live value of the metric and its feedback batch."""
    if live is None or name not in live.metrics:
        return "-"
    return f"{live.metrics[name]:.4f} (step {live.step})"


def _drift_cell(drifts: list[drift.DriftRecord]) -> str:
    """'-', or the drifted features, comma-separated ('(accepted)' when a human accepted)."""
    if not drifts:
        return "-"
    names = ",".join(dict.fromkeys(d.feature for d in drifts))
    return names + ("(accepted)" if all(d.accepted for d in drifts) else "")


def _evaluation(store: connection.Store, project: Project, run_id: str) -> dict[str, Any]:
    """What the run's Evaluator measured (the task's metrics by their short names) and decided,
    from the summary the run recorded on its context (no TFMA); empty when it recorded none."""
    evaluation = summary.recorded_evaluation(store, run_id) or {}
    return {"metrics": project.named_metrics(evaluation.get("metrics") or {}),
            "blessed": evaluation.get("blessed"), "blessing_reason": evaluation.get("blessing_reason"),
            "baseline": summary.recorded_baseline(store, run_id)}


def _metric_cell(metrics: dict[str, float], name: str) -> str:
    """'0.9123'; 'undefined' for a metric without a value on the rows (NaN); '-' when not computed."""
    if name not in metrics:
        return "-"
    value = metrics[name]
    return UNDEFINED if math.isnan(value) else f"{value:.0f}" if name == ROWS else f"{value:.4f}"


def _natural(name: str) -> tuple[tuple[int, float | str], ...]:
    """'hour/9' before 'hour/10': numbers compared as numbers."""
    parts: list[tuple[int, float | str]] = []
    for part in name.split("/"):
        try:
            parts.append((0, float(part)))
        except ValueError:
            parts.append((1, part))
    return tuple(parts)


def _run_json(run: records.RunRecord) -> dict[str, object]:
    return {**dataclasses.asdict(run), "seconds": run.seconds, "status": run.status,
            "cached": run.cached}


def _status(run: records.RunRecord) -> str:
    """COMPLETE, or FAILED naming the components that failed."""
    failed = [node for node, state in run.states.items() if state == "FAILED"]
    return f"{run.status} ({', '.join(failed)})" if failed else run.status


def _table(rows: Sequence[tuple[str, ...]]) -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


# --- lineage ----------------------------------------------------------------------------------


def _named(prov: provenance.ModelProvenance, project: Project) -> provenance.ModelProvenance:
    """The provenance with its metrics named as the project names them, the task's first."""
    if prov.evaluation is None:
        return prov
    metrics = summary.project_metrics(project, prov.evaluation.metrics)
    return dataclasses.replace(prov, evaluation=dataclasses.replace(prov.evaluation, metrics=metrics))


def _lineage(args: argparse.Namespace, store: connection.Store, config: PipelineConfig) -> str:
    """The provenance of a served version and what changed since the version before it."""
    pipeline_name, project = config.pipeline_name, config.declaration
    current = _named(provenance.version_provenance(store, pipeline_name, args.version), project)
    version = _required(_required(current.push, "PushedModel").version, "pushed version")
    before_version = pushes.previous_version(store, pipeline_name, version)
    before = (_named(provenance.version_provenance(store, pipeline_name, before_version), project)
              if before_version else None)
    changed = provenance.changes(before, current, IDENTITY_FIELDS) if before else []
    changed = [c for c in changed if not c[0].endswith("_diff")]
    reference = summary.recorded_baseline(store, current.run_id) if current.run_id else {}
    slices = _slices(current, project) if args.slices else None
    live = [e for e in live_evaluations.live_evaluations(store, pipeline_name)
            if e.model_version == version]
    drifted = drift.run_drift(store, current.run_id) if current.run_id else []
    run_context = records.run_context_of(store, current.run_id) if current.run_id else None
    reason = records.run_reason(run_context) if run_context is not None else None
    if args.json:
        return _to_json({
            "pipeline": pipeline_name, "version": version,
            "provenance": current, "previous_version": before_version,
            "changes": [{"fact": f, "before": b, "after": a} for f, b, a in changed],
            "baseline": reference, **({"slices": slices} if slices is not None else {}),
            "live": [_live_json(e) for e in live], "drift": drifted, "reason": reason,
        })
    lines = _report_lines(pipeline_name, current, before_version, changed, drifted, reason)
    if reference:
        lines[lines.index("Evaluation") + 1:lines.index("Evaluation") + 1] = _rows(
            [("reference", f"{summary.baseline_text(project, reference)} (same split)")])
    lines += ["", "Live metrics (feedback)", *_live_lines(live, project)]
    return "\n".join(lines + (_slice_lines(project, slices) if slices is not None else []))


def _slices(prov: provenance.ModelProvenance, project: Project) -> dict[str, dict[str, float]]:
    """The task's metrics of the version's model on every declared slice, by 'feature/value'."""
    from pipeline.metadata.evaluation_results import slice_metrics

    uri = prov.evaluation.evaluation_uri if prov.evaluation else None
    if not uri:
        raise connection.LineageError("the model's lineage in ML Metadata has no evaluation")
    return {name: {**({ROWS: metrics[ROWS]} if ROWS in metrics else {}), **project.named_metrics(metrics)}
            for name, metrics in slice_metrics(uri).items()}


def _slice_lines(project: Project, slices: dict[str, dict[str, float]]) -> list[str]:
    """One row per slice: its example count and the task's metrics."""
    if not slices:
        return ["", "Slices", "  none (the declaration's `slices:` is empty)"]
    names = [ROWS, *(m.name for m in project.metrics)]
    rows = [("SLICE", "ROWS", *[n.upper() for n in names[1:]])]
    rows += [(name, *[_metric_cell(slices[name], n) for n in names]) for name in sorted(slices, key=_natural)]
    return ["", "Slices", *("  " + line for line in _table(rows).splitlines())]


def _live_lines(live: list[live_evaluations.LiveEvaluation], project: Project) -> list[str]:
    """One line per feedback batch that measured the version, beside its eval metrics above (the
    task's metrics in the task's order)."""
    if not live:
        return _rows([("feedback", "no labels joined to this version's predictions yet")])
    return _rows((f"step {e.step}", f"{e.rows} rows  " + "  ".join(
        f"{m.name} {e.metrics[m.name]:.4f}" for m in project.metrics if m.name in e.metrics)
        + (f"  ALERT {'; '.join(e.breaches)}" if e.breaches else "")) for e in live)


def _report_lines(
    pipeline_name: str, prov: provenance.ModelProvenance, before_version: str | None,
    changed: list[tuple[str, object, object]], drifted: Sequence[drift.DriftRecord] = (),
    reason: str | None = None,
) -> list[str]:
    """The whole text report, section by section; why the run happened, and the drift it trained
    on, if any."""
    push = _required(prov.push, "PushedModel")
    return [
        f"Model serving as version {push.version} of pipeline '{pipeline_name}'",
        *_rows([("pushed", f"{push.at:%Y-%m-%d %H:%M:%S} UTC by run {prov.run_id}"),
                ("reason", reason or "- (not recorded)"),
                ("to", push.destination and shown_path(push.destination)),
                ("fingerprint", push.model_fingerprint)]),
        "", "Data", *_data_lines(prov),
        *_rows(("drift", record.text()) for record in drifted),
        "", "Code and config", *_training_lines(_required(prov.training, "trained model")),
        "", "Evaluation", *_evaluation_lines(prov.evaluation),
        "", *_change_lines(before_version, changed),
    ]


def _required(fact: T | None, what: str) -> T:
    """A fact every pushed model's lineage has; LineageError naming it if ML Metadata lacks it."""
    if fact is None:
        raise connection.LineageError(f"the model's lineage in ML Metadata has no {what}")
    return fact


def _rows(pairs: Iterable[tuple[str, object]]) -> list[str]:
    return [f"  {label:<16}{_text(value)}" for label, value in pairs]


def _text(value: object) -> str:
    """'-' for fields MLMD does not have."""
    return "-" if value is None else str(value)


def _data_lines(prov: provenance.ModelProvenance) -> list[str]:
    data, checks = _required(prov.data, "ExampleGen examples"), prov.validation
    anomalies = (", ".join(f"{split} {'ok' if ok else 'ANOMALIES'}"
                           for split, ok in sorted(checks.anomalies_free.items()))
                 if checks and checks.anomalies_free else None)
    return _rows([
        ("input", f"{data.input_base} (span {_text(data.span)}, version {_text(data.version)})"),
        *([("spans", ", ".join(map(str, data.window_spans)) + " (Transform and Trainer)")]
          if len(data.window_spans) > 1 else []),
        ("fingerprint", data.input_fingerprint),
        ("examples", f"{data.examples_uri} (splits {', '.join(data.splits)})"),
        ("schema", f"{checks.schema_uri} (from {checks.schema_source})" if checks else None),
        ("statistics", checks.statistics_uri if checks else None),
        ("anomalies", anomalies),
    ])


def _training_lines(training: provenance.TrainingProvenance) -> list[str]:
    params = " ".join(f"{k}={v}" for k, v in sorted(training.hyperparameters.items()))
    return _rows([
        ("code", f"{_text(training.code_fingerprint)} (the project's declaration and code "
                 "closure, as `versions` shows it)"),
        ("model code", f"{_text(training.model_code_fingerprint)} (the Trainer's cache key: its "
                       "run_fn's import closure)"),
        ("trainer", f"{training.run_fn}, {training.train_steps} train steps, "
                    f"{training.eval_steps} eval steps (run {training.trainer_run})"),
        ("hyperparameters", params or None),
        ("transform", f"{training.preprocessing_fn} -> {training.transform_graph_uri}"),
        ("model", training.model_uri),
        ("threshold", training.decision_threshold and training.decision_threshold.describe()),
    ])


def _evaluation_lines(evaluation: provenance.EvaluationProvenance | None) -> list[str]:
    if evaluation is None:
        return _rows([("evaluator", "did not run")])
    baseline = ("none (no blessed model existed yet)" if evaluation.baseline_model_uri is None
                else f"{evaluation.baseline_model_uri} (served as version "
                     f"{', '.join(evaluation.baseline_versions) or '-'})")
    verdicts: dict[bool | None, str] = {True: "yes", False: "no"}
    blessed = verdicts.get(evaluation.blessed)
    metrics = _metric_texts(evaluation.metrics)
    labels = ["metrics"] + [""] * (len(metrics) - 1)
    return _rows([("blessed", blessed), ("baseline", baseline), *zip(labels, metrics, strict=True)])


def _metric_texts(metrics: dict[str, float]) -> list[str]:
    """'<metric> 0.9785 (+0.0034 vs baseline)' for each metric in the given order (the task's
    first), the change when TFMA computed one."""
    diff = summary.DIFF_SUFFIX
    return [f"{name} {value:.4f}" + (f" ({metrics[name + diff]:+.4f} vs baseline)"
                                     if name + diff in metrics else "")
            for name, value in metrics.items() if not name.endswith(diff)]


def _change_lines(
    before_version: str | None, changed: list[tuple[str, object, object]]
) -> list[str]:
    if before_version is None:
        return ["Changes: none to report, this is the first pushed version"]
    same = [label for fact, label in KEY_FIELDS.items() if not any(c[0].startswith(fact)
                                                                 for c in changed)]
    width = max([40, *(len(fact) + 2 for fact, _, _ in changed)])
    lines = [f"Changes since version {before_version}"]
    lines += [f"  {fact:<{width}}{_short(old)} -> {_short(new)}" for fact, old, new in changed]
    return lines + [f"  unchanged: {', '.join(same) or 'none of the key facts'}"]


def _short(value: object) -> str:
    """A value cut to fit a column; floats to 4 decimals."""
    text = f"{value:.4f}" if isinstance(value, float) else str(value)
    return text if len(text) <= VALUE_WIDTH else text[:VALUE_WIDTH - 3] + "..."


METRICS_PREFIX = "evaluation.metrics."
DIFF_SECTIONS = ("config", "training", "data", "validation", "evaluation", "push", "state")


def _section_order(key: str, first: Sequence[str] = ()) -> tuple[int, int, str]:
    """Config first, then data, checks, metrics, push and component states; within a section the
    `first` keys (the task's metrics) lead in their order, then the others by name."""
    section = key.split(".", 1)[0]
    rank = first.index(key) if key in first else len(first)
    return (DIFF_SECTIONS.index(section) if section in DIFF_SECTIONS else len(DIFF_SECTIONS),
            rank, key)


# --- diff -------------------------------------------------------------------------------------


def _diff(args: argparse.Namespace, store: connection.Store, config: PipelineConfig) -> str:
    """Two runs' fields side by side, differences marked with '*'."""
    runs = [records.find_run(store, config.pipeline_name, run_id)
            for run_id in (args.run_a, args.run_b)]
    fields = [_run_fields(store, run, config.declaration) for run in runs]
    if args.json:
        return _to_json({"run_a": fields[0], "run_b": fields[1],
                         "different": sorted(k for k in fields[0].keys() | fields[1].keys()
                                             if not same_value(fields[0].get(k), fields[1].get(k)))})
    rows = [("", "FACT", "RUN A", "RUN B"), ("", "run", runs[0].run_id, runs[1].run_id)]
    task_metrics = [f"{METRICS_PREFIX}{m.name}" for m in config.declaration.metrics]
    for key in sorted(fields[0].keys() | fields[1].keys(),
                      key=lambda k: _section_order(k, task_metrics)):
        a, b = fields[0].get(key), fields[1].get(key)
        rows.append(("" if same_value(a, b) else "*", key, _short(a), _short(b)))
    return _table(rows)


def _run_fields(
    store: connection.Store, run: records.RunRecord, project: Project
) -> dict[str, object]:
    """Flattened provenance of a run (metrics named by the project) plus each component's state."""
    fields = provenance.flatten(_named(provenance.run_provenance(store, run.run_id), project))
    fields = {k: v for k, v in fields.items()
             if not k.startswith(("run_id", "push.at")) and not k.endswith("_diff")}
    fields.update({f"state.{node}": state for node, state in run.states.items()})
    return fields


# What `versions` shows of the run that pushed each version.
VERSION_FIELDS = ("data_span", "data_fingerprint", "git_commit", "git_dirty", "code_fingerprint",
                  "uv_lock_sha256", "packages")


def format_versions(versions: list[pushes.VersionRecord], on_disk_only: list[int] | None = None) -> str:
    """A block per version: where it is served and what it was made from; versions found on
    disk only are listed too, marked `not in metadata`."""
    if not versions and not on_disk_only:
        return "no pushed versions"
    blocks = []
    for record in versions:
        lines = [f"version {record.version}  run {record.run_id}",
                 f"  served at        {shown_path(record.destination)}"]
        for name in VERSION_FIELDS:
            value = record.context.get(name, "not recorded")
            if name == "packages" and isinstance(value, str) and value.startswith("{"):
                value = ", ".join(f"{k} {v}" for k, v in json.loads(value).items())
            lines.append(f"  {name:17}{value}")
        blocks.append("\n".join(lines))
    for version in on_disk_only or []:
        blocks.append(f"version {version}  not in metadata (on disk only: which run made it is "
                      "unknown; restore the store to know)")
    return "\n\n".join(blocks)
