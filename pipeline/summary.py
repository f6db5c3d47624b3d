"""The end-of-run summary: read back from MLMD and the Evaluator's outputs, never guessed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tensorflow_model_analysis as tfma
from ml_metadata import metadata_store

from pipeline import lineage
from pipeline.evaluation import ACCURACY_METRIC, AUC_METRIC

EVALUATOR = "Evaluator"
PUSHER = "ServingPusher"


@dataclass(frozen=True)
class RunSummary:
    """Facts about one run that the console and tests report."""

    run_id: str
    components: list[lineage.ComponentRun]
    metrics: dict[str, float]
    blessed: bool | None
    blessing_reason: str
    pushed_version: str | None
    pushed_path: str | None
    push_decision: str

    def component(self, node_id: str) -> lineage.ComponentRun | None:
        """The execution of one component in this run, if it ran."""
        return next((c for c in self.components if c.node_id == node_id), None)


def overall_metrics(evaluation_uri: str) -> dict[str, float]:
    """The candidate model's metrics on the overall slice."""
    result = tfma.load_eval_result(evaluation_uri)
    for slice_key, metrics in result.slicing_metrics:
        if slice_key == ():
            values = metrics.get("", {}).get("", {})
            # TFMA's JSON writes NaN (precision with no positive prediction) as the text 'NaN'.
            return {name: float(v["doubleValue"]) for name, v in values.items()
                    if "doubleValue" in v}
    return {}


def blessing_reason(evaluation_uri: str) -> str:
    """Why the Evaluator blessed the model or not, with the failing values."""
    result = tfma.load_validation_result(evaluation_uri)
    if result.validation_ok:
        return "all thresholds passed"
    failures = [
        _describe_failure(failure)
        for per_slice in result.metric_validations_per_slice
        for failure in per_slice.failures
    ]
    return "; ".join(failures) or "validation failed"


def _describe_failure(failure: object) -> str:
    """'auc 0.51 failed lower bound 0.85' style text from a TFMA ValidationFailure."""
    key, threshold = failure.metric_key, failure.metric_threshold
    value = failure.metric_value.double_value.value
    name = f"{key.name} change vs baseline" if key.is_diff else key.name
    if threshold.HasField("value_threshold"):
        bound = threshold.value_threshold
        rule = f"lower bound {bound.lower_bound.value}" if bound.HasField("lower_bound") else (
            f"upper bound {bound.upper_bound.value}")
    else:
        rule = f"change threshold {threshold.change_threshold.absolute.value:g} (higher is better)"
    return f"{name} {value:.4f} failed {rule}"


def summarize(store: metadata_store.MetadataStore, run_id: str) -> RunSummary:
    """Collect metrics, blessing and push facts of a run from MLMD."""
    components = lineage.component_runs(store, run_id)
    by_id = {c.node_id: c for c in components}
    metrics, blessed, reason = {}, None, "Evaluator did not run"
    evaluator = by_id.get(EVALUATOR)
    if evaluator and evaluator.outputs.get("evaluation"):
        evaluation_uri = evaluator.outputs["evaluation"][0].uri
        metrics = overall_metrics(evaluation_uri)
        blessing = evaluator.outputs["blessing"][0]
        blessed = lineage.custom_property(blessing, "blessed") == 1
        reason = blessing_reason(evaluation_uri)
    version = path = None
    decision = "Pusher did not run"
    pusher = by_id.get(PUSHER)
    if pusher and pusher.outputs.get("pushed_model"):
        pushed = pusher.outputs["pushed_model"][0]
        decision = str(lineage.custom_property(pushed, "push_decision") or "")
        if lineage.custom_property(pushed, "pushed") == 1:
            version = str(lineage.custom_property(pushed, "pushed_version"))
            path = str(lineage.custom_property(pushed, "pushed_destination"))
    return RunSummary(run_id, components, metrics, blessed, reason, version, path, decision)


def format_summary(summary: RunSummary, metadata_path: Path | str, log_path: Path) -> str:
    """The lines printed after the per-component lines."""
    auc = summary.metrics.get(AUC_METRIC)
    accuracy = summary.metrics.get(ACCURACY_METRIC)
    blessed = {True: "BLESSED", False: "NOT BLESSED", None: "not evaluated"}[summary.blessed]
    lines = [
        f"run id     {summary.run_id}",
        f"eval       AUC {auc:.4f}  accuracy {accuracy:.4f}" if auc is not None else "eval       -",
        f"model      {blessed} ({summary.blessing_reason})",
        f"push       {summary.push_decision}" + (f": {summary.pushed_path}" if summary.pushed_path else ""),
        f"metadata   {metadata_path}",
        f"log        {log_path}",
    ]
    return "\n".join(lines)
