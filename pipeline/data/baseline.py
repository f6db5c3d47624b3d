"""Reference models on the pipeline's own train/eval split: the bar a trained model must clear.

Two models a reviewer would fit first, on Transform's output (so a label the project derives,
and its weight, are the ones the model trains on): the majority class (regression: the train
mean) and a linear model (logistic or ridge regression) on the z-scored numeric inputs and a
one-hot encoding of every integer id input. Both are scored on the eval split with the task's own
metrics, weighted as the Evaluator weighs them. scikit-learn runs here only, never when serving.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.config.project import Metric, Project, Task, Threshold, Treatment
from pipeline.vocabulary import WEIGHT_KEY, label_key, transformed_name

if TYPE_CHECKING:
    import numpy as np

MAJORITY = "majority"
LINEAR = "linear"
# The baseline a new project's blessing is gated on (its margin: metrics.baseline_margin).
GATED = LINEAR
# Training rows the reference models are fitted on, at most: the first of the train split in its
# written order (the same every run), enough for a linear model to settle, fast on any dataset.
# They are scored on every eval row, as the Evaluator scores the trained model.
FIT_ROWS = 200_000
SEED = 42
# Binary decision threshold of the reference models' class output (the Evaluator's default).
CUT = 0.5


@dataclass(frozen=True)
class Split:
    """One split's model inputs by transformed name, the label and each row's weight."""

    inputs: dict[str, np.ndarray]
    label: np.ndarray
    weight: np.ndarray


def input_keys(project: Project) -> tuple[list[str], list[str]]:
    """Transformed names of the z-scored numeric inputs and of the integer id inputs."""
    numeric = [transformed_name(f.name) for f in project.features if f.treatment is Treatment.NUMERIC]
    ids = [transformed_name(f.name) for f in project.features if f.treatment is not Treatment.NUMERIC]
    return numeric, ids


def column_keys(project: Project) -> set[str]:
    """Every transformed column a Split reads: the inputs, the label and the weight."""
    numeric, ids = input_keys(project)
    return {*numeric, *ids, label_key(project.label), WEIGHT_KEY}


def split_from_columns(project: Project, columns: Mapping[str, np.ndarray]) -> Split:
    """A Split from decoded transformed columns; inputs a custom preprocessing_fn did not write
    are left out (the baseline then sees fewer inputs than the model, never more)."""
    numeric, ids = input_keys(project)
    inputs = {key: columns[key] for key in numeric + ids if key in columns}
    return Split(inputs, columns[label_key(project.label)], columns[WEIGHT_KEY])


def encode(train: Split, evaluation: Split, project: Project) -> tuple[Any, Any]:
    """Sparse design matrices: numeric inputs as they are, ids one-hot over the ids seen in train
    (an id unseen in train is all-zero)."""
    import numpy as np
    from scipy import sparse

    numeric, ids = input_keys(project)
    blocks: tuple[list[Any], list[Any]] = ([], [])
    for key in (k for k in numeric if k in train.inputs):
        for block, split in zip(blocks, (train, evaluation), strict=True):
            block.append(sparse.csr_matrix(np.nan_to_num(split.inputs[key].astype(np.float64))[:, None]))
    for key in (k for k in ids if k in train.inputs):
        seen = np.unique(train.inputs[key].astype(np.int64))
        for block, split in zip(blocks, (train, evaluation), strict=True):
            values = split.inputs[key].astype(np.int64)
            column = np.searchsorted(seen, values)
            known = (column < len(seen)) & (seen[np.minimum(column, len(seen) - 1)] == values)
            rows = np.flatnonzero(known)
            block.append(sparse.csr_matrix((np.ones(len(rows)), (rows, column[known])),
                                           shape=(len(values), len(seen))))
    empty = [sparse.csr_matrix((len(s.label), 0)) for s in (train, evaluation)]
    x_train, x_eval = (sparse.hstack(b).tocsr() if b else e for b, e in zip(blocks, empty, strict=True))
    return x_train, x_eval


def fit(train: Split, evaluation: Split, project: Project) -> dict[str, dict[str, float]]:
    """Each reference model's metrics on eval, by model then the task's metric names."""
    import numpy as np

    keep = train.weight > 0
    if not keep.any():
        raise ValueError("no training row has a usable label")
    x_train, x_eval = encode(train, evaluation, project)
    y, w = train.label[keep], train.weight[keep]
    predictions = {
        LINEAR: _linear(project.task, x_train[np.flatnonzero(keep)], y, w, x_eval, len(project.classes)),
        MAJORITY: _constant(project.task, y, w, len(evaluation.label), len(project.classes)),
    }
    return {name: scores(project, evaluation.label, predicted, evaluation.weight)
            for name, predicted in predictions.items()}


def _constant(task: Task, y: np.ndarray, w: np.ndarray, rows: int, classes: int) -> np.ndarray:
    """The train split's weighted base rate / class shares / mean, for every eval row."""
    import numpy as np

    if task is Task.MULTICLASS:
        shares = np.bincount(y.astype(np.int64), weights=w, minlength=classes) / w.sum()
        return np.tile(shares, (rows, 1))
    return np.full(rows, float(np.average(y.astype(np.float64), weights=w)))


def _linear(task: Task, x: Any, y: np.ndarray, w: np.ndarray, x_eval: Any, classes: int) -> np.ndarray:
    """Logistic (classification) or ridge (regression) regression's eval predictions."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression, Ridge

    if task is Task.REGRESSION:
        return Ridge(alpha=1.0).fit(x, y.astype(np.float64), sample_weight=w).predict(x_eval)
    labels = y.astype(np.int64)
    if len(np.unique(labels)) < 2:
        return _constant(task, labels, w, x_eval.shape[0], classes)
    model = LogisticRegression(max_iter=1000, random_state=SEED).fit(x, labels, sample_weight=w)
    probabilities = model.predict_proba(x_eval)
    if task is Task.BINARY:
        return probabilities[:, list(model.classes_).index(1)]
    full = np.zeros((x_eval.shape[0], classes))
    full[:, model.classes_] = probabilities
    return full


def scores(project: Project, label: np.ndarray, predicted: np.ndarray,
           weight: np.ndarray) -> dict[str, float]:
    """The task's metrics (NaN when undefined on this split, e.g. AUC with one class present)."""
    keep = weight > 0
    label, predicted, weight = label[keep], predicted[keep], weight[keep]
    return {metric.name: _score(metric, label, predicted, weight, len(project.classes))
            for metric in project.metrics}


def _score(metric: Metric, y: np.ndarray, p: np.ndarray, w: np.ndarray, classes: int) -> float:
    """One metric as TFMA computes it (binary class output at CUT)."""
    import numpy as np
    from sklearn import metrics

    if len(y) == 0:
        return math.nan
    if metric.name == "auc":
        return float(metrics.roc_auc_score(y, p, sample_weight=w)) if len(np.unique(y)) == 2 else math.nan
    if metric.name == "pr_auc":
        if len(np.unique(y)) < 2:
            return math.nan
        return float(metrics.average_precision_score(y, p, sample_weight=w))
    if metric.name == "accuracy":
        hits = (p >= CUT) == (y == 1) if p.ndim == 1 else p.argmax(axis=1) == y
        return float(np.average(hits, weights=w))
    if metric.name in ("precision", "recall"):
        predicted, actual = p >= CUT, y == 1
        chosen = predicted if metric.name == "precision" else actual
        if not chosen.any():
            return math.nan
        return float(np.average((predicted & actual)[chosen], weights=w[chosen]))
    if metric.name == "calibration":
        return float(np.average(p, weights=w) / np.average(y, weights=w)) if np.any(y) else math.nan
    if metric.name == "log_loss":
        return float(metrics.log_loss(y, np.clip(p, 1e-15, 1), sample_weight=w, labels=range(classes)))
    error: np.ndarray = p - y.astype(np.float64)
    if metric.name == "rmse":
        return float(math.sqrt(np.average(error**2, weights=w)))
    return float(np.average(np.abs(error), weights=w))  # mae


def gate(project: Project, linear: Mapping[str, float]) -> Threshold | None:
    """The bound the declared margin sets on the primary metric from the linear baseline's value:
    `metrics.baseline_margin` below it for scores (auc, accuracy), that share above it for errors
    (rmse, log_loss); None when no margin is declared or the baseline's value is undefined."""
    metric, margin = project.primary_metric, project.baseline_margin
    value = linear.get(metric.name, math.nan)
    if margin is None or not math.isfinite(value):
        return None
    if metric.higher_is_better:
        return Threshold(metric.name, lower=round(value - margin, 6))
    return Threshold(metric.name, upper=round(value * (1 + margin), 6))
