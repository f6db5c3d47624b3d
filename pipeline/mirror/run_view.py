"""What one pipeline run looks like in MLflow, read from ML Metadata (and the files it names)."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.config.project import UNDEFINED, Project
from pipeline.data import validation
from pipeline.metadata import artifact_files, provenance, pushes, records, summary
from pipeline.metadata.connection import Store
from pipeline.metadata.summary import DIFF_SUFFIX
from pipeline.vocabulary import (
    ANOMALIES_KEY,
    DATA_GATE,
    MODEL_RUN_KEY,
    RUN_REASON_PROPERTY,
    TRAINING_LOG_FILE,
)

# TFMA's copy of the eval config it applied, in the evaluation artifact.
EVAL_CONFIG_FILE = "eval_config.json"
# The per-slice table each run logs as an artifact.
SLICE_TABLE_FILE = "slice_metrics.csv"
EXAMPLE_COUNT_KEY = "example_count"

# MLMD's execution property where TFX keeps a failed execution's error.
EXECUTION_RESULT = "__execution_result__"


# MLflow names allow letters, digits and `_-. /:`; anything else in a slice value becomes `_`.
_UNSAFE = re.compile(r"[^\w\-. /:]")


# MLflow refuses param values longer than this.
PARAM_LIMIT = 6000


MLFLOW_STATUS = {"COMPLETE": "FINISHED", "FAILED": "FAILED", "RUNNING": "RUNNING"}


SliceReader = Callable[[str], dict[str, dict[str, float]]]


@dataclass(frozen=True)
class MirrorRun:
    """One pipeline run as MLflow shows it; `key` is the MLMD id that makes syncing idempotent."""

    run_id: str
    key: str
    status: str
    reason: str
    start_ms: int
    end_ms: int
    params: dict[str, str]
    metrics: dict[str, float]
    histories: dict[str, list[tuple[int, float]]]
    tags: dict[str, str]
    files: dict[str, str] = field(default_factory=dict)
    summary: dict[str, object] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)
    name: str = ""


def metric_name(text: str) -> str:
    """A name MLflow accepts."""
    return _UNSAFE.sub("_", text)


def failure_reason(components: list[records.ComponentRun]) -> str:
    """Why a run failed: the failed component and TFX's recorded error, or '' when none failed."""
    for component in components:
        if component.state != "FAILED":
            continue
        where = "stopped at the data gate" if component.node_id == DATA_GATE else (
            f"{component.node_id} failed")
        detail = recorded_error(component) or (
            _anomalies(components) if component.node_id == DATA_GATE else "")
        return f"{where}: {detail}" if detail else where
    return ""


def _anomalies(components: list[records.ComponentRun]) -> str:
    """What the validators found, in the DataGate's words (TFX keeps no message when a Python
    component raises)."""
    uris = [a.uri for c in components for a in c.outputs.get(ANOMALIES_KEY, [])]
    return "; ".join(line for uri in uris for line in validation.artifact_anomaly_lines(uri))


def recorded_error(component: records.ComponentRun) -> str:
    """The error message TFX keeps on a failed execution (an ExecutionResult as JSON)."""
    text = str(records.property_value(component.execution, EXECUTION_RESULT) or "")
    try:
        result = json.loads(text)
    except ValueError:
        return text.strip()
    return str(result.get("resultMessage", "")).strip() if isinstance(result, dict) else ""


def _flat_params(prefix: str, values: Mapping[str, object]) -> dict[str, str]:
    """Nested values as `prefix.key` params, each cut to MLflow's length limit."""
    flat = provenance.flatten(dict(values), prefix)
    return {key: (v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str))[:PARAM_LIMIT]
            for key, v in flat.items()}


def _context_params(context: Mapping[str, object]) -> dict[str, str]:
    """The recorded run context (data, git, lock, config) as params; packages stay in the summary."""
    params: dict[str, str] = {}
    for name, value in context.items():
        if name in ("packages", "data_files"):
            continue
        if name == "config" and isinstance(value, str) and value.startswith("{"):
            params.update(_flat_params("config.", json.loads(value)))
        else:
            params[name] = str(value)[:PARAM_LIMIT]
    return params


def _training(prov: provenance.ModelProvenance) -> dict[str, str]:
    """Hyperparameters, step counts and a binary model's decision threshold as params."""
    training = prov.training
    if training is None:
        return {}
    params = _flat_params("hparam.", training.hyperparameters)
    params.update({"train_steps": str(training.train_steps), "eval_steps": str(training.eval_steps)})
    if training.decision_threshold is not None:
        params["decision_threshold"] = training.decision_threshold.describe()
    return params


def training_histories(components: list[records.ComponentRun]) -> dict[str, list[tuple[int, float]]]:
    """`train_loss` per logged step and the final eval loss and metrics, from the Trainer's log
    beside its model run (TensorBoard summaries sit in the same folder)."""
    runs = [a for c in components for a in c.outputs.get(MODEL_RUN_KEY, [])]
    logs = (f"{a.uri.rstrip('/')}/{TRAINING_LOG_FILE}" for a in runs)
    found = next((uri for uri in logs if artifact_files.is_file(uri)), None)
    if found is None:
        return {}
    log = json.loads(artifact_files.read_text(found))
    losses = [(int(step), float(value)) for step, value in log.get("train_loss", [])]
    last = losses[-1][0] if losses else 0
    histories: dict[str, list[tuple[int, float]]] = {"train_loss": losses,
                                                     "eval_loss": [(last, float(log["eval_loss"]))]}
    for name, value in log.get("eval_metrics", {}).items():
        histories[metric_name(f"eval_{name}")] = [(last, float(value))]
    return histories


def _metrics(project: Project, recorded: dict | None, slices: dict[str, dict[str, float]]
             ) -> dict[str, float]:
    """Overall metrics under the declaration's names, then the primary metric of each slice as
    `slice/<slice>/<metric>` (every metric of every slice is the slice table); an undefined value
    (AUC of a slice of one class) is not logged: MLflow would chart it as a number."""
    overall = summary.project_metrics(project, recorded["metrics"]) if recorded else {}
    metrics = {metric_name(name): value for name, value in overall.items()}
    primary = project.primary_metric
    for slice_name, values in slices.items():
        value = project.defined_metrics(values).get(primary.tfma_key)
        if value is not None:
            metrics[metric_name(f"slice/{slice_name}/{primary.name}")] = value
    return {name: value for name, value in metrics.items() if not math.isnan(value)}


def slice_table(project: Project, slices: dict[str, dict[str, float]]) -> str:
    """Every metric of every slice as CSV (one row per slice, the declaration's names); an
    undefined value is an empty cell and `note` says why, or that the slice is under
    metrics.min_slice_examples."""
    rows = {name: summary.project_metrics(project, values) for name, values in slices.items()}
    columns = list(dict.fromkeys(c for row in rows.values() for c in row if not c.endswith("_diff")))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["slice", *columns, "note"])
    for name, row in sorted(rows.items()):
        cells = ["" if c not in row or math.isnan(row[c]) else f"{row[c]:.6g}" for c in columns]
        writer.writerow([name, *cells, _slice_note(project, slices[name])])
    return buffer.getvalue()


def _slice_note(project: Project, values: Mapping[str, float]) -> str:
    """Why a slice's values are not comparable with the others': few examples, undefined metrics."""
    names = {m.tfma_key: m.name for m in project.metrics}
    count = values.get(EXAMPLE_COUNT_KEY)
    notes = [f"n < {project.min_slice_examples}"] if (
        count is not None and count < project.min_slice_examples) else []
    notes += [f"{names[key]}: {why}" for key, why in project.undefined_metrics(values).items()
              if key in names]
    return "; ".join(notes)


def threshold_params(project: Project, evaluation: Mapping[str, Any]) -> dict[str, str]:
    """The blessing bounds the Evaluator applied (its eval_config.json), as
    `threshold.<metric>`: '>= 0.85', '<= 3.5', 'no worse than baseline'."""
    names = {m.tfma_class: m.name for m in project.metrics}
    params: dict[str, str] = {}
    for spec in evaluation.get("evalConfig", {}).get("metricsSpecs", []):
        for metric in spec.get("metrics", []):
            rules: list[str] = []
            for per_slice in metric.get("perSliceThresholds", []):
                bound = per_slice.get("threshold", {})
                value = bound.get("valueThreshold", {})
                rules += [f">= {value['lowerBound']}"] if "lowerBound" in value else []
                rules += [f"<= {value['upperBound']}"] if "upperBound" in value else []
                rules += ["no worse than baseline"] if "changeThreshold" in bound else []
            if rules:
                name = names.get(metric["className"], metric["className"])
                params[f"threshold.{name}"] = ", ".join(rules)
    return params


def _applied_thresholds(project: Project, evaluation_uri: str | None) -> dict[str, str]:
    """threshold_params of the run's evaluation, empty without one."""
    if evaluation_uri is None:
        return {}
    config = f"{evaluation_uri.rstrip('/')}/{EVAL_CONFIG_FILE}"
    if not artifact_files.is_file(config):
        return {}
    return threshold_params(project, json.loads(artifact_files.read_text(config)))


def baseline_params(project: Project, recorded: dict | None) -> dict[str, str]:
    """The baseline model's metrics (`baseline.<metric>`), from the candidate's values and TFMA's
    differences (`<key>_diff` = candidate - baseline); empty when no baseline was compared."""
    if not recorded:
        return {}
    metrics = recorded["metrics"]
    return {f"baseline.{m.name}": f"{metrics[m.tfma_key] - metrics[m.tfma_key + DIFF_SUFFIX]:.6g}"
            for m in project.metrics
            if m.tfma_key in metrics and m.tfma_key + DIFF_SUFFIX in metrics}


def headline(project: Project, run_id: str, recorded: dict | None,
             prov: provenance.ModelProvenance) -> str:
    """The run's name in MLflow: its answer, then its id ('auc 0.9411 blessed v1 | <run id>'). The
    runs table shows Run Name, Source, Models and Dataset by default (MLflow 3's UI keeps chosen
    metric and param columns in the browser, not the store), so the name is where the answer fits."""
    parts = []
    if recorded is not None:
        primary = project.primary_metric
        value = project.defined_metrics(recorded["metrics"]).get(primary.tfma_key)
        if value is not None:
            shown = f"{value:.4f}" if not math.isnan(value) else project.undefined_metrics(
                recorded["metrics"]).get(primary.tfma_key, UNDEFINED)
            parts.append(f"{primary.name} {shown}")
        parts.append({True: "blessed", False: "not blessed", None: "not evaluated"}[recorded["blessed"]])
    if prov.push is not None and prov.push.pushed:
        parts.append(f"v{prov.push.version}")
    return " ".join(parts) + f" | {run_id}" if parts else run_id


def source_tags(project: Project, context: Mapping[str, object]) -> dict[str, str]:
    """MLflow's Source and Version columns: the command that runs the project, its git commit."""
    tags = {"mlflow.source.name": f"python -m pipeline run --project {project.name}",
            "mlflow.source.type": "LOCAL"}
    if context.get("git_commit"):
        tags["mlflow.source.git.commit"] = str(context["git_commit"])
    return tags


def _tags(run_id: str, prov: provenance.ModelProvenance, recorded: dict | None,
          components: list[records.ComponentRun]) -> dict[str, str]:
    """MLMD ids, blessing and reason, pushed version and baseline."""
    tags = {"mlmd.execution_ids": ",".join(str(c.execution.id) for c in components),
            "pipeline.run_id": run_id}
    if recorded is not None:
        tags["blessed"] = {True: "true", False: "false", None: "not evaluated"}[recorded["blessed"]]
        tags["blessing_reason"] = str(recorded["blessing_reason"])
    if prov.push is not None:
        tags["push_decision"] = str(prov.push.decision)
        if prov.push.pushed:
            tags["pushed_version"] = str(prov.push.version)
    if prov.evaluation is not None and prov.evaluation.baseline_model_uri:
        tags["baseline_model"] = prov.evaluation.baseline_model_uri
        tags["baseline_versions"] = ",".join(prov.evaluation.baseline_versions) or "none"
    return tags


def run_reason_tag(store: Store, run_id: str) -> dict[str, str]:
    """`run_reason`: why the run happened (schedule, drift alert: ..., by hand), when recorded."""
    context = records.run_context_of(store, run_id)
    reason = records.run_reason(context) if context is not None else None
    return {RUN_REASON_PROPERTY: reason} if reason else {}


def _files(prov: provenance.ModelProvenance) -> dict[str, str]:
    """Folders to copy as artifacts: the schema and the anomalies, by artifact path."""
    validation = prov.validation
    if validation is None:
        return {}
    found = {"schema": validation.schema_uri, "anomalies": validation.anomalies_uri}
    return {name: uri for name, uri in found.items() if uri}


def no_slices(evaluation_uri: str) -> dict[str, dict[str, float]]:
    """A slice reader for stores whose evaluations are not to be opened."""
    return {}


def reference_params(reference: dict[str, dict[str, float]]) -> dict[str, str]:
    """The reference models' metrics on the run's own split (`reference.linear.auc`, ...), beside
    the model's in MLflow; an undefined value is left out, as for the model's own."""
    return {f"reference.{model}.{name}": f"{value:.6g}" for model, metrics in reference.items()
            for name, value in metrics.items() if value is not None and value == value}


def mirror_run(store: Store, project: Project, run_id: str, key: str,
               read_slices: SliceReader = no_slices) -> MirrorRun:
    """Everything MLflow shows of one run, read from ML Metadata without TensorFlow (slices
    through `read_slices`, which may import TFMA)."""
    components = records.component_runs(store, run_id)
    prov = provenance.run_provenance(store, run_id, read_metrics=lambda _uri: {})
    recorded = summary.recorded_evaluation(store, run_id)
    evaluation = prov.evaluation.evaluation_uri if prov.evaluation else None
    slices = read_slices(evaluation) if evaluation else {}
    record = records.RunRecord(run_id, min(c.started for c in components),
                               max(c.finished for c in components),
                               {c.node_id: c.state for c in components})
    context = pushes.recorded_run_context(store, run_id)
    params = {"task": project.task.value, **_context_params(context), **_training(prov),
              **_applied_thresholds(project, evaluation), **baseline_params(project, recorded),
              **reference_params(summary.baseline_metrics(components))}
    info = {"run_id": run_id, "status": record.status, "states": record.states,
            "recorded": recorded, "cached": record.cached}
    return MirrorRun(
        run_id=run_id, key=key, status=MLFLOW_STATUS.get(record.status, "FAILED"),
        reason=failure_reason(components),
        start_ms=int(record.started.timestamp() * 1000), end_ms=int(record.finished.timestamp() * 1000),
        params=params, metrics=_metrics(project, recorded, slices),
        histories=training_histories(components),
        tags={**_tags(run_id, prov, recorded, components), **source_tags(project, context),
              **run_reason_tag(store, run_id)},
        files=_files(prov), summary={**info, "params": params},
        tables={SLICE_TABLE_FILE: slice_table(project, slices)} if slices else {},
        name=headline(project, run_id, recorded, prov),
    )
