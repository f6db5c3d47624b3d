"""Monitoring of production data: skew against the serving model's training data, drift between
windows, a markdown report with plots, and a verdict a scheduler can alert on."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from pipeline.config.project import DataLimits
from pipeline.data import drift, validation
from pipeline.data.summaries import Summaries, example_summaries
from pipeline.errors import WorkFailed
from pipeline.metadata import pushes, records
from pipeline.metadata.connection import Artifact, LineageError, Store
from pipeline.monitoring.columns import Watched, window_summaries
from pipeline.vocabulary import (
    DATA_GATE,
    EVAL_SPLIT,
    EXAMPLE_GEN,
    EXAMPLES_KEY,
    SCHEMA_FILE,
    STATISTICS_FILE,
    STATISTICS_GEN,
    STATISTICS_KEY,
    TRAIN_SPLIT,
    VALIDATED_SCHEMA_KEY,
    split_folder,
)

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

    Statistics: TypeAlias = statistics_pb2.DatasetFeatureStatisticsList

# The last window monitored, summarised per feature: the next window's drift baseline.
LATEST_WINDOW = "latest_window.json"
# The name the verdict gives the monitored window (its lines are printed without it).
WINDOW = "window"
DEFAULT_LIMITS = DataLimits()


class MonitoringError(WorkFailed):
    """Monitoring cannot run (no served model, unreadable file); the message says what."""


@dataclass(frozen=True)
class ServingBaseline:
    """Training statistics and schema of the model now serving, found through MLMD lineage."""

    run_id: str
    pushed_version: str
    # Artifact URIs (gs://... on a cluster), read through TensorFlow's file systems.
    statistics_uri: str
    schema_uri: str
    # The Examples artifacts the run trained on (one per span of its window).
    examples_uris: tuple[str, ...] = ()


@dataclass
class MonitoringResult:
    """Problems by kind, every comparison made, what was left unmonitored and why, the report
    written, and whether a threshold was crossed."""

    schema: list[str] = field(default_factory=list)
    skew: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)
    checks: list[FeatureCheck] = field(default_factory=list)
    unmonitored: dict[str, str] = field(default_factory=dict)
    not_required: dict[str, str] = field(default_factory=dict)
    rows: int = 0
    # Values past the training range, rare new categories: reported, never an alert by themselves.
    value: list[str] = field(default_factory=list)
    report_path: Path | None = None

    @property
    def alert(self) -> bool:
        """True when any check failed: the command then exits non-zero."""
        return bool(self.schema or self.skew or self.drift)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form for --json."""
        return {"alert": self.alert, "rows": self.rows, "schema": self.schema,
                "skew": self.skew, "drift": self.drift, "value": self.value,
                "monitored": [check.to_dict() for check in self.checks],
                "unmonitored": dict(self.unmonitored), "not_required": dict(self.not_required),
                "report": str(self.report_path) if self.report_path else None}


def serving_baseline(
    store: Store, pipeline_name: str, version: str | None = None
) -> ServingBaseline:
    """Follow the served version (the newest push when None) back to its run's training
    statistics and schema."""
    pushed = pushes.pushed_models(store, pipeline_name)
    if not pushed:
        raise MonitoringError(
            f"no pushed model of pipeline '{pipeline_name}' in the metadata store: "
            "run the pipeline first")
    try:
        model = pushes.pushed_model(store, pipeline_name, version)
    except LineageError as error:
        raise MonitoringError(f"served version {version}: {error}") from error
    run_id = pushes.pushing_run(store, model)
    if run_id is None:
        raise MonitoringError(
            f"the metadata store records no run that pushed model artifact {model.id} "
            f"of pipeline '{pipeline_name}'")
    runs = {c.node_id: c for c in records.component_runs(store, run_id)}
    statistics = _output(runs, run_id, STATISTICS_GEN, STATISTICS_KEY)
    schema = _output(runs, run_id, DATA_GATE, VALIDATED_SCHEMA_KEY)
    examples = tuple(
        artifact.uri for node, component in sorted(runs.items())
        if node == EXAMPLE_GEN or node.startswith(f"{EXAMPLE_GEN}_span")
        for artifact in component.outputs.get(EXAMPLES_KEY, []))
    return ServingBaseline(
        run_id=run_id,
        pushed_version=records.published_version(model),
        statistics_uri=os.path.join(statistics.uri, split_folder(TRAIN_SPLIT), STATISTICS_FILE),
        schema_uri=os.path.join(schema.uri, SCHEMA_FILE),
        examples_uris=examples,
    )


def _output(runs: dict[str, records.ComponentRun], run_id: str, node: str, key: str) -> Artifact:
    """The first `key` output of a component of the serving run, or MonitoringError naming it."""
    component = runs.get(node)
    if component is None or not component.outputs.get(key):
        raise MonitoringError(
            f"run {run_id} of the served model recorded no {node} '{key}' output in ML Metadata")
    return component.outputs[key][0]


def require_csv(csv_path: Path) -> None:
    """A readable UTF-8 file, checked before TFDV reads it (its errors name no file)."""
    if not csv_path.is_file():
        raise MonitoringError(f"{csv_path} is not a file")
    try:
        with csv_path.open(encoding="utf-8") as handle:
            for _ in handle:
                pass
    except OSError as error:
        raise MonitoringError(f"cannot read {csv_path}: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise MonitoringError(
            f"{csv_path} is not UTF-8 text ({error.reason} at byte {error.start})") from error


@dataclass(frozen=True)
class FeatureCheck(drift.Drift):
    """One comparison of a monitored feature: against training (skew) or the previous window
    (drift), on the window's rows with a value."""

    comparison: str  # "skew" or "drift"
    rows: int

    def line(self) -> str:
        """The console's and the report's wording."""
        return (f"feature '{self.feature}': {drift.DISTANCE_NAMES[self.kind]} "
                f"{self.value:.3f} > threshold {self.threshold.value:.3f} "
                f"({self.rows} rows; calibrated noise {self.threshold.noise:.3f})")

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form for --json."""
        return {"feature": self.feature, "comparison": self.comparison, "kind": self.kind.value,
                "distance": drift.DISTANCE_NAMES[self.kind], "value": round(self.value, 6),
                "threshold": round(self.threshold.value, 6),
                "noise": round(self.threshold.noise, 6),
                "split_distance": round(self.threshold.split, 6), "rows": self.rows,
                "crossed": self.crossed}


def compare(
    watched: Watched, training: Summaries, evaluation: Summaries, current: Summaries,
    previous: Summaries | None,
) -> tuple[list[FeatureCheck], dict[str, str]]:
    """Skew (and drift when a previous window is known) of every watched feature, thresholds
    calibrated from its training values at this window's size; the features left unmonitored
    with the reason."""
    checks: list[FeatureCheck] = []
    unmonitored: dict[str, str] = {}
    for name, kind in watched.features.items():
        reason = _unmonitored(name, training, current)
        if reason:
            unmonitored[name] = reason
            continue
        reference, window = training[name], current[name]
        split = drift.distance(reference, evaluation[name]) if name in evaluation else 0.0
        checks.append(FeatureCheck(
            name, kind, drift.distance(reference, window),
            drift.threshold(reference, window.rows, watched.thresholds, split_distance=split),
            comparison="skew", rows=window.rows))
        before = (previous or {}).get(name)
        if before is not None and before.kind is kind and before.rows:
            checks.append(FeatureCheck(
                name, kind, drift.distance(before, window),
                drift.threshold(reference, window.rows, watched.thresholds, before.rows, split),
                comparison="drift", rows=window.rows))
    return checks, unmonitored


def _unmonitored(name: str, training: Summaries, current: Summaries) -> str | None:
    """Why a watched feature cannot be compared, or None."""
    if name not in training:
        return "no value in the served model's training examples"
    if name not in current:
        return "absent from this window"
    if not current[name].rows:
        return "no value in this window"
    return None


def not_required(schema: schema_pb2.Schema, columns: Sequence[str]) -> schema_pb2.Schema:
    """A copy of the schema in which `columns` (excluded, label, id) may be absent from a window
    or present in it: no presence bound (an environment they are not in would forbid them)."""
    schema = type(schema).FromString(schema.SerializeToString())
    for feature in schema.feature:
        if feature.name in columns:
            feature.presence.min_fraction = 0.0
            feature.presence.min_count = 0
    return schema


def schema_verdict(
    current: Statistics, schema: schema_pb2.Schema, missing: Sequence[str], limits: DataLimits,
) -> tuple[list[str], list[str]]:
    """The window's schema skew (an alert) and value skew (reported) from the one verdict
    `check-data` and the DataGate give (validation.judge), in monitoring's wording, plus a line
    for each declared feature the window lacks (the model reads it, whatever the schema says)."""
    verdict = validation.judge({WINDOW: current}, schema, limits, validation.SERVING)
    broken = _unsplit(verdict.schema_skew)
    broken += [f"feature '{name}': a declared feature absent from the window"
               for name in missing if not any(f"feature '{name}'" in line for line in broken)]
    return broken, _unsplit(verdict.value_skew)


def _unsplit(lines: list[str]) -> list[str]:
    """Monitoring's wording of a verdict's lines: no split."""
    return [line.removeprefix(f"{WINDOW}: ") for line in lines]


def plot_feature(feature: str, sources: dict[str, drift.Distribution], output: Path) -> Path:
    """Value shares (categorical) or quantile functions (numeric) of a feature in each source
    (training, previous, current)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 3.5))
    if next(iter(sources.values())).kind is drift.Kind.CATEGORICAL:
        _bars(axis, sources)
    else:
        for name, summary in sources.items():
            axis.plot(drift.GRID, summary.quantiles, label=name)
        axis.set_xlabel("quantile")
        axis.set_ylabel("value")
    axis.set_title(feature)
    axis.legend()
    figure.tight_layout()
    figure.savefig(output, dpi=80)
    plt.close(figure)
    return output


def _bars(axis, sources: dict[str, drift.Distribution]) -> None:  # a matplotlib Axes
    """Side-by-side share bars of the 30 values most frequent in the first source."""
    first = next(iter(sources.values())).shares or {}
    keys = sorted(first, key=lambda value: -first[value])[:30]
    width = 0.8 / len(sources)
    for index, (name, summary) in enumerate(sources.items()):
        shares = summary.shares or {}
        axis.bar([i + index * width for i in range(len(keys))],
                 [shares.get(k, 0.0) for k in keys], width, label=name)
    axis.set_xticks([i + 0.4 - width / 2 for i in range(len(keys))])
    axis.set_xticklabels(keys, rotation=45, ha="right", fontsize=7)
    axis.set_ylabel("share")


def write_report(
    folder: Path, csv_path: Path, baseline: ServingBaseline, result: MonitoringResult,
    plots: list[Path], previous_label: str,
) -> Path:
    """report.md: verdict, the baseline used, each comparison, what is unmonitored, the plots."""
    verdict = "ALERT: a threshold was crossed" if result.alert else "OK: no threshold crossed"
    lines = [
        f"# Monitoring report: {csv_path.name}", "",
        f"- generated {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}",
        f"- verdict: **{verdict}**",
        f"- skew baseline: training data of run `{baseline.run_id}` "
        f"(served version {baseline.pushed_version})",
        f"- drift baseline: {previous_label}",
        f"- window rows: {result.rows}", "",
        "## Schema", "", *([f"- {p}" for p in result.schema] or ["- none"]), "",
        "## Value skew (recorded, not an alert)", "",
        *([f"- {p}" for p in result.value] or ["- none"]), "",
        "## Monitored features", "",
        "| feature | check | distance | value | threshold | calibrated noise | train/eval | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *(f"| {c.feature} | {c.comparison} | {drift.DISTANCE_NAMES[c.kind]} | {c.value:.3f} "
          f"| {c.threshold.value:.3f} | {c.threshold.noise:.3f} | {c.threshold.split:.3f} "
          f"| {'ALERT' if c.crossed else 'ok'} |" for c in result.checks), "",
        "## Not monitored", "",
        *([f"- {name}: {reason}" for name, reason in result.unmonitored.items()] or ["- none"]),
        "", "## Not required in production data (not compared)", "",
        *([f"- {name}: {reason}" for name, reason in result.not_required.items()] or ["- none"]),
        "", "## Distributions", "", *(f"![{p.stem}]({p.name})" for p in plots),
    ]
    report = folder / "report.md"
    report.write_text("\n".join(lines) + "\n")
    return report


def monitor(
    csv_path: Path, store: Store, pipeline_name: str, state_dir: Path, report_dir: Path,
    watched: Watched, previous_path: Path | None = None, served_version: str | None = None,
    limits: DataLimits = DEFAULT_LIMITS,
) -> MonitoringResult:
    """Check a window of production data against the model `pipeline_name` serves, write the
    report, and keep its summaries as the next window's drift baseline. Every watched feature is
    compared with its training values (skew) and the previous window (drift), at a threshold
    calibrated from the training values at this window's size; `served_version` is the version
    the `stable` label points at (None: the newest push)."""
    require_csv(csv_path)
    previous, previous_label = _previous(previous_path, state_dir, watched)
    baseline = serving_baseline(store, pipeline_name, served_version)
    if not baseline.examples_uris:
        raise MonitoringError(f"run {baseline.run_id} of the served model recorded no "
                              f"{EXAMPLE_GEN} '{EXAMPLES_KEY}' output in ML Metadata")
    schema = not_required(validation.read_schema_file(baseline.schema_uri),
                          list(watched.not_required))
    training = example_summaries(baseline.examples_uris, TRAIN_SPLIT, watched.features)
    evaluation = example_summaries(baseline.examples_uris, EVAL_SPLIT, watched.features)
    current, missing = window_summaries(csv_path, watched)
    checks, unmonitored = compare(watched, training, evaluation, current, previous)
    broken, grown = schema_verdict(validation.csv_statistics(csv_path, schema), schema, missing, limits)
    result = MonitoringResult(
        schema=broken, value=grown,
        skew=[c.line() for c in checks if c.comparison == "skew" and c.crossed],
        drift=[c.line() for c in checks if c.comparison == "drift" and c.crossed],
        checks=checks, unmonitored=unmonitored, not_required=dict(watched.not_required),
        rows=max((summary.rows for summary in current.values()), default=0))
    report_dir.mkdir(parents=True, exist_ok=True)
    before = previous or {}
    plots = [plot_feature(name, {"training": training[name],
                                 **({"previous": before[name]} if name in before else {}),
                                 "current": current[name]}, report_dir / f"{name}.png")
             for name in dict.fromkeys(c.feature for c in checks)]
    result.report_path = write_report(report_dir, csv_path, baseline, result, plots, previous_label)
    _keep_window(current, state_dir)
    return result


def _previous(path: Path | None, state_dir: Path, watched: Watched) -> tuple[Summaries | None, str]:
    """The previous window's summaries (--previous CSV, else the last window monitored) and
    how the report names it."""
    if path is not None:
        if path.suffix != ".csv":
            raise MonitoringError(f"--previous {path}: expected a CSV window")
        require_csv(path)
        return window_summaries(path, watched)[0], str(path)
    kept = state_dir / LATEST_WINDOW
    if not kept.is_file():
        return None, "none (first window)"
    try:
        values = json.loads(kept.read_text(encoding="utf-8"))
        return {name: drift.Distribution.from_dict(v) for name, v in values.items()}, str(kept)
    except (ValueError, KeyError, TypeError, AssertionError) as error:
        raise MonitoringError(f"{kept} is not a window monitoring kept ({error}): "
                              "remove it or pass --previous") from error


def _keep_window(current: Summaries, state_dir: Path) -> None:
    """Replace the kept window atomically (the next window's drift baseline)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    staged = state_dir / (LATEST_WINDOW + ".tmp")
    staged.write_text(json.dumps({name: s.to_dict() for name, s in current.items()}),
                      encoding="utf-8")
    os.replace(staged, state_dir / LATEST_WINDOW)
