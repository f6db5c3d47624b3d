"""A clean console: one line per component start and finish (the verbose rest goes to the log
file, pipeline/logs.py), then the run's summary."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from pipeline.config.project import Project, Task
from pipeline.logs import shown_path
from pipeline.metadata import records
from pipeline.metadata.summary import RunSummary, baseline_text, metrics_text
from pipeline.vocabulary import (
    DATA_GATE,
    DEFAULT_DECISION_THRESHOLD,
    DRIFT_PROPERTY,
    VALIDATED_SCHEMA_KEY,
    VALUE_SKEW_PROPERTY,
    DecisionThreshold,
)

_RUNNING = re.compile(r"Component (\S+) is running\.")
_FINISHED = re.compile(r"Component (\S+) is finished\.")
_CACHED = re.compile(r"A cached execution \d+ is used\.")
_SKIPPED = re.compile(r"Skipping execution for")
# TFMA's MeanLabel on the eval split: for a binary label, the positive class's share.
BASE_RATE_KEY = "mean_label"


@dataclass
class ComponentProgress:
    """What the console knows about one component while the run goes on."""

    node_id: str
    started: float
    status: str = "running"
    seconds: float = 0.0


class ProgressReporter(logging.Handler):
    """Turns TFX's own 'Component X is running/finished' log records into console lines."""

    def __init__(self, console: TextIO, total: int) -> None:
        super().__init__(level=logging.INFO)
        self.console = console
        self.total = total
        self.components: list[ComponentProgress] = []

    @property
    def current(self) -> ComponentProgress | None:
        """The component that started last and has not finished yet."""
        last = self.components[-1] if self.components else None
        return last if last and last.status in ("running", "cached", "skipped") else None

    def emit(self, record: logging.LogRecord) -> None:
        """Update state from a TFX log record and print start and finish lines."""
        message = record.getMessage()
        if match := _RUNNING.match(message):
            self.components.append(ComponentProgress(match.group(1), time.monotonic()))
            self._print(self.components[-1], "running")
        elif (current := self.current) and _CACHED.match(message):
            current.status = "cached"
        elif (current := self.current) and _SKIPPED.match(message):
            current.status = "skipped"
        elif (match := _FINISHED.match(message)) and (current := self.current):
            current.seconds = time.monotonic() - current.started
            current.status = "done" if current.status == "running" else current.status
            self._print(current, current.status)

    def fail_current(self) -> None:
        """Mark the running component failed when the runner raised."""
        if current := self.current:
            current.seconds = time.monotonic() - current.started
            current.status = "FAILED"
            self._print(current, "FAILED")

    def _print(self, component: ComponentProgress, status: str) -> None:
        index = len(self.components)
        duration = f"{component.seconds:7.1f} s" if status != "running" else ""
        line = f"[{index:2d}/{self.total}] {component.node_id:<34} {status:<8} {duration}"
        print(line.rstrip(), file=self.console, flush=True)


def format_summary(
    summary: RunSummary, project: Project, metadata_path: Path | str, log_path: Path | None
) -> str:
    """The lines printed after the per-component lines."""
    blessed = {True: "BLESSED", False: "NOT BLESSED", None: "not evaluated"}[summary.blessed]
    lines = [
        f"run id     {summary.run_id}",
        f"eval       {metrics_text(project, summary.metrics)}",
        *[f"note       {note}" for note in metric_notes(project, summary.metrics)],
        *([f"threshold  {threshold_text(project, summary.decision_threshold)}"]
          if project.task is Task.BINARY and summary.blessed is not None else []),
        *([f"baseline   {baseline_text(project, summary.baseline)} ({baseline_rows_text(summary)})"]
          if summary.baseline else []),
        f"model      {blessed} ({summary.blessing_reason})",
        *([f"bounds     {bound_sources(project, summary.gate)}"] if summary.blessed is False else []),
        f"push       {summary.push_decision}"
        + (f": {shown_path(summary.pushed_path)}" if summary.pushed_path else ""),
        *data_lines(summary),
        f"metadata   {shown_path(metadata_path)}",
        f"log        {shown_path(log_path) if log_path else '- (nothing ran)'}",
    ]
    return "\n".join(lines)


def baseline_rows_text(summary: RunSummary) -> str:
    """Where the reference models were fitted and scored; says so when the fit read a sample."""
    rows = summary.baseline_rows
    if rows and rows.get("fitted", 0) >= rows.get("fit_limit", 0) > 0:
        return (f"same split; fitted on the first {rows['fitted']:,} training rows, "
                f"scored on all {rows['scored']:,} eval rows")
    return "same split"


def threshold_text(project: Project, record: DecisionThreshold | None) -> str:
    """The binary class cut, the rule that chose it on the training split, and precision and
    recall at it on the eval split (the eval line's precision and recall are TFMA's, at 0.5)."""
    if record is None:
        return (f"{DEFAULT_DECISION_THRESHOLD} (none recorded: the project's run_fn wrote no "
                "decision threshold)")
    return (f"{record.describe()}; score and predict call '{project.classes[1]}' from it (the eval "
            f"line's precision and recall: at {DEFAULT_DECISION_THRESHOLD})")


# Why a binary metric can be undefined (NaN) on the eval split, by the declaration's metric name.
WHY_UNDEFINED = {
    "auc": "the eval split has rows of one class only",
    "pr_auc": "the eval split has rows of one class only",
    "precision": "no eval row is predicted positive at the 0.5 cut",
    "recall": "the eval split has no positive row",
    "calibration": "the eval split has no positive row",
}


def metric_notes(project: Project, metrics: dict[str, float]) -> list[str]:
    """What a reader needs to judge binary metrics: the base rate, and why a metric is undefined."""
    if project.task is not Task.BINARY:
        return []
    notes = []
    if (rate := metrics.get(BASE_RATE_KEY)) is not None:
        notes.append(f"base rate {rate:.4f} (positive share of eval rows): always predicting "
                     f"'{project.classes[0]}' scores accuracy {1 - rate:.4f}, pr_auc {rate:.4f}")
    named = project.named_metrics(metrics)
    notes += [f"{name} undefined: {WHY_UNDEFINED.get(name, 'no value on the eval split')}"
              for name, value in named.items() if value != value]
    return notes


def bound_sources(project: Project, gate: dict) -> str:
    """Which declaration field (or flag) sets each blessing bound, so a not-blessed run says what
    to change."""
    sources = []
    if gate:
        sign = ">=" if gate.get("lower") is not None else "<="
        limit = gate["lower"] if gate.get("lower") is not None else gate["upper"]
        how = "minus" if gate.get("lower") is not None else "times 1 +"
        sources.append(f"{gate['metric']} {sign} {limit:.4g}: {gate['baseline']} baseline "
                       f"{gate['value']:.4f} {how} metrics.baseline_margin {gate['margin']:g}")
    for bound in project.thresholds:
        sources.append(f"{bound.metric}: metrics.thresholds.{bound.metric} (or --threshold "
                       f"{bound.metric}=X)")
    if not project.thresholds:
        sources.append("--threshold METRIC=X adds an absolute bound")
    sources.append(f"no worse than the serving model on {project.primary_metric.name}: "
                   "metrics.no_worse_than_serving")
    return "; ".join(sources)
def data_lines(summary: RunSummary) -> list[str]:
    """The drift alert and the growth the DataGate recorded on its validated schema (ML Metadata):
    a run that trained on drifted data says so where every run's outcome is read."""
    gate = summary.component(DATA_GATE)
    validated = gate.outputs.get(VALIDATED_SCHEMA_KEY, []) if gate else []
    if not validated:
        return []
    drifts = _listed(records.struct_property(validated[0], DRIFT_PROPERTY))
    grown = _listed(records.struct_property(validated[0], VALUE_SKEW_PROPERTY))
    lines = [f"drift      ALERT feature '{d['feature']}' {d['measure']} {d['distance']:.3g} > "
             f"{d['threshold']:.3g} ({d['split']}{', accepted' if d['accepted'] else ''}): "
             "trained on it, recorded in ML Metadata"
             for d in drifts if isinstance(d, dict)]
    features = sorted({str(line).split("'")[1] for line in grown if "'" in str(line)})
    if features:
        lines.append(f"growth     value skew in {', '.join(features)} (recorded, not a stop)")
    return lines


def _listed(value: object) -> list[Any]:
    """A recorded JSON list, or empty when the property is unset."""
    return list(value) if isinstance(value, list) else []
