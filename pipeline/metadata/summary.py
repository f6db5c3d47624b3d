"""The end-of-run summary: read back from MLMD and the Evaluator's outputs, never guessed (the
local runner records it on the run's context; this module only reads)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

from ml_metadata import metadata_store

from pipeline.config.project import UNDEFINED, Project
from pipeline.metadata import records
from pipeline.metadata.evaluation_results import blessing_reason, overall_metrics
from pipeline.vocabulary import (
    BASELINE,
    BASELINE_GATE_PROPERTY,
    BASELINE_METRICS_KEY,
    BASELINE_METRICS_PROPERTY,
    BASELINE_ROWS_PROPERTY,
    BLESSING_KEY,
    DECISION_THRESHOLD_PROPERTY,
    EVALUATION_KEY,
    EVALUATOR,
    MODEL_KEY,
    PUSHED_MODEL_KEY,
    PUSHER,
    TRAINER,
    DecisionThreshold,
)

# Custom property of the MLMD run context holding the evaluation (metrics, blessing), so reading it
# back does not import TFMA (about 30 s of CPU).
RECORDED_SUMMARY = "run_summary"


@dataclass(frozen=True)
class RunSummary:
    """Facts about one run that the console and tests report."""

    run_id: str
    components: list[records.ComponentRun]
    metrics: dict[str, float]
    blessed: bool | None
    blessing_reason: str
    pushed_version: str | None
    pushed_path: str | None
    push_decision: str

    def component(self, node_id: str) -> records.ComponentRun | None:
        """The execution of one component in this run, if it ran."""
        return next((c for c in self.components if c.node_id == node_id), None)

    @property
    def baseline(self) -> dict[str, dict[str, float]]:
        """Each reference model's metrics on this run's eval split (empty when none ran)."""
        return baseline_metrics(self.components)

    @property
    def gate(self) -> dict:
        """The bound the linear baseline and the declared margin set (empty when none)."""
        return baseline_record(self.components).get(BASELINE_GATE_PROPERTY) or {}

    @property
    def baseline_rows(self) -> dict:
        """Rows the reference models were fitted on (`fitted`, at most `fit_limit`) and scored on."""
        return baseline_record(self.components).get(BASELINE_ROWS_PROPERTY) or {}

    @property
    def decision_threshold(self) -> DecisionThreshold | None:
        """The class cut the Trainer chose for a binary model (None: no model, or none recorded)."""
        return recorded_threshold(self.components)


def recorded_threshold(components: list[records.ComponentRun]) -> DecisionThreshold | None:
    """The decision threshold recorded on the run's model artifact in ML Metadata."""
    trainer = next((c for c in components if c.node_id == TRAINER), None)
    models = trainer.outputs.get(MODEL_KEY) if trainer else None
    text = records.custom_property(models[0], DECISION_THRESHOLD_PROPERTY) if models else None
    return DecisionThreshold.from_json(str(text)) if text else None


def baseline_metrics(components: list[records.ComponentRun]) -> dict[str, dict[str, float]]:
    """Each reference model's metrics the run's Baseline component recorded (empty: none ran)."""
    return baseline_record(components).get(BASELINE_METRICS_PROPERTY) or {}


def baseline_record(components: list[records.ComponentRun]) -> dict:
    """The Baseline component's recorded metrics and gate, by property name."""
    run = next((c for c in components if c.node_id == BASELINE), None)
    outputs = run.outputs.get(BASELINE_METRICS_KEY) if run else None
    if not outputs:
        return {}
    return {name: json.loads(str(records.custom_property(outputs[0], name) or "{}"))
            for name in (BASELINE_METRICS_PROPERTY, BASELINE_GATE_PROPERTY, BASELINE_ROWS_PROPERTY)}


def summarize(store: metadata_store.MetadataStore, run_id: str) -> RunSummary:
    """Collect metrics, blessing and push outcome of a run from MLMD and the Evaluator's output."""
    components = records.component_runs(store, run_id)
    metrics, blessed, reason = {}, None, "Evaluator did not run"
    evaluator = next((c for c in components if c.node_id == EVALUATOR), None)
    if evaluator and evaluator.outputs.get(EVALUATION_KEY):
        evaluation_uri = evaluator.outputs[EVALUATION_KEY][0].uri
        metrics = overall_metrics(evaluation_uri)
        blessing = evaluator.outputs[BLESSING_KEY][0]
        blessed = records.custom_property(blessing, "blessed") == 1
        reason = blessing_reason(evaluation_uri)
    return RunSummary(run_id, components, metrics, blessed, reason, *_push_outcome(components))


def _push_outcome(components: list[records.ComponentRun]) -> tuple[str | None, str | None, str]:
    """Version, path and decision of the run's push."""
    pusher = next((c for c in components if c.node_id == PUSHER), None)
    if not pusher or not pusher.outputs.get(PUSHED_MODEL_KEY):
        return None, None, "Pusher did not run"
    pushed = pusher.outputs[PUSHED_MODEL_KEY][0]
    decision = str(records.custom_property(pushed, "push_decision") or "")
    version = records.pushed_version(pushed)
    if version is None:
        return None, None, decision
    return version, str(records.custom_property(pushed, "pushed_destination")), decision


def recorded_evaluation(store: metadata_store.MetadataStore, run_id: str | None) -> dict | None:
    """The evaluation a local run recorded on its context (metrics, blessed, reason), or
    None when it recorded none (runs of other orchestrators, or made before this existed)."""
    context = records.run_context_of(store, run_id) if run_id else None
    text = records.property_value(context, RECORDED_SUMMARY) if context is not None else None
    if not text:
        return None
    try:
        evaluation = json.loads(str(text))
    except ValueError:
        return None
    return evaluation if isinstance(evaluation, dict) and "metrics" in evaluation else None


def recorded(store: metadata_store.MetadataStore, run_id: str) -> RunSummary | None:
    """The summary a local run recorded, or None when it recorded none."""
    evaluation = recorded_evaluation(store, run_id)
    if evaluation is None:
        return None
    components = records.component_runs(store, run_id)
    return RunSummary(run_id, components, evaluation["metrics"], evaluation["blessed"],
                      evaluation["blessing_reason"], *_push_outcome(components))


def recorded_baseline(store: metadata_store.MetadataStore, run_id: str) -> dict[str, dict[str, float]]:
    """Each reference model's metrics the run's Baseline component recorded (empty: none ran)."""
    return baseline_metrics(records.component_runs(store, run_id))


def baseline_text(project: Project, baseline: Mapping[str, Mapping[str, float]]) -> str:
    """'linear auc 0.8800  accuracy 0.8100 ...; majority auc 0.5000 ...' in the task's metric
    order; 'undefined' where a metric has no value on the split (e.g. precision with no positive call)."""
    def value(number: float | None) -> str:
        return UNDEFINED if number is None or number != number else f"{number:.4f}"

    return "; ".join(
        f"{model} " + "  ".join(f"{m.name} {value(metrics.get(m.name))}" for m in project.metrics)
        for model, metrics in baseline.items()) or "-"


def metrics_text(project: Project, metrics: dict[str, float]) -> str:
    """'auc 0.9542  accuracy 0.9022 ...': the task's metrics as the declaration names them."""
    named = project.named_metrics(metrics)
    reasons = project.undefined_metrics(metrics)
    keys = {m.name: m.tfma_key for m in project.metrics}
    return "  ".join(
        f"{name} {value:.4f}" if not math.isnan(value) else f"{name} {reasons.get(keys[name], UNDEFINED)}"
        for name, value in named.items()) or "-"


DIFF_SUFFIX = "_diff"
# Prefix of a TFMA metric whose key is also the short name of one of the task's metrics (a multiclass
# project's 'accuracy' is sparse_categorical_accuracy; a TFMA key 'accuracy' is kept as 'tfma:accuracy').
TFMA_PREFIX = "tfma:"


def project_metrics(project: Project, metrics: Mapping[str, float]) -> dict[str, float]:
    """Every metric TFMA computed, the task's ones first under their short names (in the
    declaration's order), then the others under their TFMA keys, sorted; each change against the
    baseline (TFMA's `<key>_diff`) follows its metric as `<name>_diff`; undefined values are NaN."""
    metrics = project.defined_metrics(metrics)
    task_keys = {m.tfma_key: m.name for m in project.metrics}
    short = set(task_keys.values())
    names = {key: task_keys.get(key) or (TFMA_PREFIX + key if key in short else key)
             for key in metrics if not key.endswith(DIFF_SUFFIX)}
    order = [m.tfma_key for m in project.metrics if m.tfma_key in names]
    order += sorted(key for key in names if key not in task_keys)
    named: dict[str, float] = {}
    for key in order:
        named[names[key]] = float(metrics[key])
        if key + DIFF_SUFFIX in metrics:
            named[names[key] + DIFF_SUFFIX] = float(metrics[key + DIFF_SUFFIX])
    return named
