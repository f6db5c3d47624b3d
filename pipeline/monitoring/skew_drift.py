"""Monitoring of production data: skew against the serving model's training data, drift between
windows, a markdown report with plots, and a verdict a scheduler can alert on."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias, TypedDict

from pipeline.config.project import DataLimits
from pipeline.data import validation
from pipeline.errors import WorkFailed
from pipeline.metadata import pushes, records
from pipeline.metadata.connection import Artifact, LineageError, Store
from pipeline.vocabulary import (
    DATA_GATE,
    SCHEMA_FILE,
    STATISTICS_FILE,
    STATISTICS_GEN,
    STATISTICS_KEY,
    TRAIN_SPLIT,
    VALIDATED_SCHEMA_KEY,
    split_folder,
)

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

    Statistics: TypeAlias = statistics_pb2.DatasetFeatureStatisticsList

LATEST_WINDOW = "latest_window.stats.pb"
# The name the verdict gives the monitored window (its lines are printed without it).
WINDOW = "window"
DEFAULT_LIMITS = DataLimits()
# Comparators given to a served feature the schema has none for (an inferred schema has none):
# Jensen-Shannon divergence for numbers, L-infinity distance for strings (as curated schemas do).
DEFAULT_NUMERIC_DISTANCE = 0.1
DEFAULT_CATEGORICAL_DISTANCE = 0.2


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


@dataclass
class MonitoringResult:
    """Problems by kind, the report written, and whether a threshold was crossed."""

    schema: list[str] = field(default_factory=list)
    skew: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)
    # Values past the training range, rare new categories: reported, never an alert by themselves.
    value: list[str] = field(default_factory=list)
    report_path: Path | None = None

    @property
    def alert(self) -> bool:
        """True when any check failed: the command then exits non-zero."""
        return bool(self.schema or self.skew or self.drift)


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
    return ServingBaseline(
        run_id=run_id,
        pushed_version=records.published_version(model),
        statistics_uri=os.path.join(statistics.uri, split_folder(TRAIN_SPLIT), STATISTICS_FILE),
        schema_uri=os.path.join(schema.uri, SCHEMA_FILE),
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


class Problems(TypedDict):
    """The problem lines of each check, by MonitoringResult field."""

    schema: list[str]
    skew: list[str]
    drift: list[str]
    value: list[str]


def check(
    current: Statistics, training: Statistics, previous: Statistics | None, schema: schema_pb2.Schema,
    limits: DataLimits = DEFAULT_LIMITS,
) -> Problems:
    """The window's schema verdict (pipeline.data.validation.judge, as check-data and the DataGate
    give it), its drift, and skew against the training statistics."""
    without_drift = validation.validate(current, schema, validation.SERVING)
    with_drift = (
        validation.validate(current, schema, validation.SERVING, previous=previous)
        if previous is not None else without_drift
    )
    skew = validation.validate(training, schema, validation.TRAINING, serving=current)
    verdict = validation.judge({WINDOW: current}, schema, limits, validation.SERVING,
                               found={WINDOW: without_drift})
    drift_lines = [line for line in _lines(with_drift) if line not in _lines(without_drift)]
    return {"schema": _unsplit(verdict.schema_skew), "skew": _lines(skew), "drift": drift_lines,
            "value": _unsplit(verdict.value_skew)}


def _unsplit(lines: list[str]) -> list[str]:
    """Monitoring's wording of a verdict's lines: no split."""
    return [line.removeprefix(f"{WINDOW}: ") for line in lines]


def _lines(anomalies: anomalies_pb2.Anomalies) -> list[str]:
    """Monitoring's wording: no split, a line per dataset-level reason."""
    return validation.anomaly_lines(anomalies, dataset="each")


def with_comparators(schema: schema_pb2.Schema, features: Sequence[str]) -> schema_pb2.Schema:
    """The schema as curated when it declares any skew or drift comparator (a reviewer chose which
    features to watch); otherwise a copy where each served feature (the project's) gets the default
    comparator, so a project whose schema declares none (init's) is still checked."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    if any(f.HasField("skew_comparator") or f.HasField("drift_comparator") for f in schema.feature):
        return schema
    schema = type(schema).FromString(schema.SerializeToString())
    wanted = set(features)
    for feature in schema.feature:
        if feature.name not in wanted:
            continue
        for comparator in (feature.skew_comparator, feature.drift_comparator):
            if comparator.HasField("infinity_norm") or comparator.HasField("jensen_shannon_divergence"):
                continue
            if feature.type == schema_pb2.BYTES:
                comparator.infinity_norm.threshold = DEFAULT_CATEGORICAL_DISTANCE
            else:
                comparator.jensen_shannon_divergence.threshold = DEFAULT_NUMERIC_DISTANCE
    return schema


def compared_features(schema: schema_pb2.Schema, result: MonitoringResult) -> list[str]:
    """Features with a drift or skew comparator, plus any feature named in a problem."""
    names = [
        f.name for f in schema.feature
        if f.HasField("drift_comparator") or f.HasField("skew_comparator")
    ]
    flagged = [
        f.name for f in schema.feature
        if any(f"'{f.name}'" in line for line in result.schema + result.skew + result.drift)
    ]
    return list(dict.fromkeys(names + flagged))


def _distribution(statistics: Statistics, feature: str) -> dict[str, float]:
    """Share of each value (categorical) or histogram bucket (numeric) of a feature."""
    for dataset in statistics.datasets[:1]:
        for stats in dataset.features:
            if stats.path.step[-1:] != [feature]:
                continue
            if stats.HasField("string_stats"):
                top = stats.string_stats.top_values
                total = sum(v.frequency for v in top) or 1.0
                return {v.value: v.frequency / total for v in top}
            if stats.HasField("num_stats") and stats.num_stats.histograms:
                buckets = stats.num_stats.histograms[0].buckets
                total = sum(b.sample_count for b in buckets) or 1.0
                return {f"{b.low_value:.3g}": b.sample_count / total for b in buckets}
    return {}


def plot_feature(feature: str, sources: dict[str, Statistics], output: Path) -> Path:
    """Bar chart of a feature's distribution in each source (training, previous, current)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    distributions = {name: _distribution(stats, feature) for name, stats in sources.items()}
    keys = list(dict.fromkeys(k for d in distributions.values() for k in d))[:30]
    figure, axis = plt.subplots(figsize=(8, 3.5))
    width = 0.8 / max(len(distributions), 1)
    for index, (name, distribution) in enumerate(distributions.items()):
        positions = [i + index * width for i in range(len(keys))]
        axis.bar(positions, [distribution.get(k, 0.0) for k in keys], width, label=name)
    axis.set_xticks([i + 0.4 - width / 2 for i in range(len(keys))])
    axis.set_xticklabels(keys, rotation=45, ha="right", fontsize=7)
    axis.set_ylabel("share")
    axis.set_title(feature)
    axis.legend()
    figure.tight_layout()
    figure.savefig(output, dpi=80)
    plt.close(figure)
    return output


def write_report(
    folder: Path, csv_path: Path, baseline: ServingBaseline, result: MonitoringResult,
    plots: list[Path], previous_label: str,
) -> Path:
    """report.md: verdict, the baseline used, problems by kind, the plots."""
    verdict = "ALERT: a threshold was crossed" if result.alert else "OK: no threshold crossed"
    lines = [
        f"# Monitoring report: {csv_path.name}", "",
        f"- generated {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}",
        f"- verdict: **{verdict}**",
        f"- skew baseline: training statistics of run `{baseline.run_id}` "
        f"(served version {baseline.pushed_version})",
        f"- drift baseline: {previous_label}", "",
    ]
    for title, problems in (("Schema", result.schema), ("Skew", result.skew),
                            ("Drift", result.drift), ("Value skew (not an alert)", result.value)):
        lines += [f"## {title}", ""] + ([f"- {p}" for p in problems] or ["- none"]) + [""]
    lines += ["## Distributions", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    report = folder / "report.md"
    report.write_text("\n".join(lines) + "\n")
    return report


def monitor(
    csv_path: Path, store: Store, pipeline_name: str, state_dir: Path, report_dir: Path,
    previous_path: Path | None = None, features: Sequence[str] = (),
    served_version: str | None = None, limits: DataLimits = DEFAULT_LIMITS,
) -> MonitoringResult:
    """Check a window of production data against the model `pipeline_name` serves, write the
    report, and keep its statistics as the next window's drift baseline. `features` are the
    columns the model serves on (the project's): each is compared for skew and drift;
    `served_version` is the version the `stable` label points at (None: the newest push)."""
    require_csv(csv_path)
    if previous_path is not None and not previous_path.is_file():
        raise MonitoringError(f"--previous {previous_path} is not a file")
    if previous_path is not None and previous_path.suffix == ".csv":
        require_csv(previous_path)
    baseline = serving_baseline(store, pipeline_name, served_version)
    schema = with_comparators(validation.read_schema_file(baseline.schema_uri), features)
    current = validation.csv_statistics(csv_path, schema)
    training = validation.read_statistics_file(baseline.statistics_uri)
    kept_window = state_dir / LATEST_WINDOW
    source = previous_path or (kept_window if kept_window.is_file() else None)
    previous = validation.file_statistics(source, schema) if source else None
    result = MonitoringResult(**check(current, training, previous, schema, limits))
    report_dir.mkdir(parents=True, exist_ok=True)
    sources = {"training": training, **({"previous": previous} if previous else {}),
               "current": current}
    plots = [
        plot_feature(name, sources, report_dir / f"{name}.png")
        for name in compared_features(schema, result)
    ]
    label = str(source) if source else "none (first window)"
    result.report_path = write_report(report_dir, csv_path, baseline, result, plots, label)
    state_dir.mkdir(parents=True, exist_ok=True)
    staged = state_dir / (LATEST_WINDOW + ".tmp")
    _write_stats(current, staged)
    shutil.move(str(staged), kept_window)
    return result


def _write_stats(statistics: Statistics, path: Path) -> None:
    """Save statistics as a binary proto (what validation.read_statistics_file reads)."""
    path.write_bytes(statistics.SerializeToString())
