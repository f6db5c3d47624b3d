"""The task's own metrics on labelled, logged predictions (TF-free, numpy): what the Evaluator
measures offline, measured again on the rows production scored once their labels arrived.

Binary: auc, accuracy, precision, recall, calibration (TFMA's: mean prediction / mean label);
multiclass: accuracy, log_loss; regression: rmse, mae. A metric the rows cannot define (AUC with
one class present, precision with no positive prediction) is left out rather than invented."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.config.project import Project, Task, Threshold
from pipeline.vocabulary import CLASSES_OUTPUT, PREDICTION_OUTPUT, probability_column

# log(0) guard for log_loss, as Keras clips probabilities.
EPSILON = 1e-7


@dataclass(frozen=True)
class Labelled:
    """Rows of one model's predictions with their true labels, in the same order."""

    labels: tuple[str, ...]
    outputs: tuple[Mapping[str, object], ...]


def _binary(project: Project, rows: Labelled) -> dict[str, float | None]:
    """AUC from ranks (ties averaged); accuracy, precision and recall from the class served (cut at
    the version's decision threshold)."""
    positive = str(project.positive_class)
    truth = np.array([label == positive for label in rows.labels])
    scores = np.array([float(str(o[probability_column(positive)])) for o in rows.outputs])
    predicted = np.array([str(o[CLASSES_OUTPUT]) == positive for o in rows.outputs])
    hits = float(np.sum(truth & predicted))
    return {
        "auc": _auc(truth, scores),
        "accuracy": float(np.mean(truth == predicted)),
        "precision": hits / float(np.sum(predicted)) if predicted.any() else None,
        "recall": hits / float(np.sum(truth)) if truth.any() else None,
        "calibration": float(np.sum(scores) / np.sum(truth)) if truth.any() else None,
    }


def _auc(truth: np.ndarray, scores: np.ndarray) -> float | None:
    """Mann-Whitney AUC: the chance a positive row scores above a negative one."""
    positives, negatives = int(truth.sum()), int((~truth).sum())
    if not positives or not negatives:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):
        tied = scores == value
        ranks[tied] = ranks[tied].mean()
    return float((ranks[truth].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _multiclass(project: Project, rows: Labelled) -> dict[str, float | None]:
    """Accuracy of the class served, and the log loss of the true class's probability."""
    correct = [str(o[CLASSES_OUTPUT]) == label for o, label in zip(rows.outputs, rows.labels, strict=True)]
    probabilities = [float(str(o[probability_column(label)]))
                     for o, label in zip(rows.outputs, rows.labels, strict=True)]
    clipped = np.clip(np.array(probabilities), EPSILON, 1.0)
    return {"accuracy": float(np.mean(correct)), "log_loss": float(-np.mean(np.log(clipped)))}


def _regression(project: Project, rows: Labelled) -> dict[str, float | None]:
    """Root mean squared and mean absolute error of the prediction."""
    errors = (np.array([float(str(o[PREDICTION_OUTPUT])) for o in rows.outputs])
              - np.array([float(label) for label in rows.labels]))
    return {"rmse": float(np.sqrt(np.mean(errors ** 2))), "mae": float(np.mean(np.abs(errors)))}


BY_TASK: dict[Task, Callable[[Project, Labelled], dict[str, float | None]]] = {
    Task.BINARY: _binary, Task.MULTICLASS: _multiclass, Task.REGRESSION: _regression,
}


def live_metrics(project: Project, rows: Labelled) -> dict[str, float]:
    """The task's metrics the rows define, by their declared names, in the task's order."""
    if not rows.labels:
        return {}
    computed = BY_TASK[project.task](project, rows)
    return {m.name: value for m in project.metrics
            if (value := computed.get(m.name)) is not None and np.isfinite(value)}


def breaches(bounds: Sequence[Threshold], metrics: Mapping[str, float]) -> list[str]:
    """Each live bound a metric crosses, as `auc 0.6123 < min 0.7`; a metric the rows could not
    define crosses nothing."""
    found = []
    for bound in bounds:
        value = metrics.get(bound.metric)
        if value is None:
            continue
        if bound.lower is not None and value < bound.lower:
            found.append(f"{bound.metric} {value:.4f} < min {bound.lower:g}")
        if bound.upper is not None and value > bound.upper:
            found.append(f"{bound.metric} {value:.4f} > max {bound.upper:g}")
    return found


def no_worse(project: Project, challenger: Mapping[str, float],
             champion: Mapping[str, float]) -> tuple[bool, str]:
    """Whether the challenger's primary metric is at least the champion's (lower is better for a
    loss), and the comparison in words."""
    metric = project.primary_metric
    if metric.name not in challenger or metric.name not in champion:
        return False, f"{metric.name} is not defined on these rows for both models"
    ours, theirs = challenger[metric.name], champion[metric.name]
    better = ours >= theirs if metric.higher_is_better else ours <= theirs
    sign = {(True, True): ">=", (True, False): "<", (False, True): "<=", (False, False): ">"}[
        (metric.higher_is_better, better)]
    return better, f"{metric.name} {ours:.4f} {sign} {theirs:.4f}"
