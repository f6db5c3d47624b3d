"""A binary model's decision threshold, chosen on its scores of the training split by the declared
rule (max_f1, precision_at, recall_at, fixed), and precision and recall at any cut. Weighted: a row
counts as much as its example weight (rows of weight 0 not at all). numpy only, no TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.config.project import ThresholdDeclaration, ThresholdRule
from pipeline.vocabulary import DEFAULT_DECISION_THRESHOLD

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Cut:
    """A threshold, precision and recall at it (None where undefined), and whether it meets the rule."""

    threshold: float
    precision: float | None
    recall: float | None
    reached: bool = True


@dataclass(frozen=True)
class Curve:
    """Every distinct cut of the scores, highest first: the threshold between a score and the next
    lower one (so a cut does not sit on a training row's own score), and the weighted true and
    false positives at it; `positives` is the weighted count of positive rows."""

    thresholds: np.ndarray
    true_positives: np.ndarray
    false_positives: np.ndarray
    positives: float

    def precision(self) -> np.ndarray:
        import numpy as np

        called = self.true_positives + self.false_positives
        return np.divide(self.true_positives, called, out=np.full(called.shape, np.nan), where=called > 0)

    def recall(self) -> np.ndarray:
        return self.true_positives / self.positives

    def cut(self, index: int, reached: bool = True) -> Cut:
        return Cut(float(self.thresholds[index]), _defined(self.precision()[index]),
                   _defined(self.recall()[index]), reached)


def curve(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> Curve:
    """The precision-recall curve of rows with a positive weight (labels 1 positive, 0 negative)."""
    import numpy as np

    scores, labels, weights = (np.asarray(a, dtype=np.float64).reshape(-1)
                               for a in (scores, labels, weights))
    kept = weights > 0
    scores, labels, weights = scores[kept], labels[kept], weights[kept]
    if not scores.size:
        return Curve(scores, scores, scores, 0.0)
    order = np.argsort(-scores, kind="stable")
    scores, labels, weights = scores[order], labels[order], weights[order]
    true_positives = np.cumsum(weights * (labels > 0.5))
    false_positives = np.cumsum(weights * (labels <= 0.5))
    # The last row of each run of equal scores: a cut admits all of them or none.
    last = np.flatnonzero(np.append(np.diff(scores) != 0, True))
    lower = np.append(scores[last][1:], scores[last][-1:])
    thresholds = (scores[last] + lower) / 2
    return Curve(thresholds, true_positives[last], false_positives[last],
                 float(true_positives[-1]) if len(true_positives) else 0.0)


def choose(declared: ThresholdDeclaration, scores: np.ndarray, labels: np.ndarray,
           weights: np.ndarray) -> Cut:
    """The cut the declared rule picks on these rows; a rule that cannot be met says so (reached
    False): no positive row keeps 0.5, precision_at beyond every cut takes the most precise one."""
    import numpy as np

    if declared.rule is ThresholdRule.FIXED:
        return at(float(declared.value or DEFAULT_DECISION_THRESHOLD), scores, labels, weights)
    points = curve(scores, labels, weights)
    if points.positives <= 0:
        return Cut(DEFAULT_DECISION_THRESHOLD, None, None, reached=False)
    precision, recall = np.nan_to_num(points.precision()), points.recall()
    if declared.rule is ThresholdRule.MAX_F1:
        f1 = 2 * points.true_positives / (points.true_positives + points.false_positives
                                          + points.positives)
        return points.cut(int(np.argmax(f1)))
    target = float(declared.value or 0.0)
    if declared.rule is ThresholdRule.PRECISION_AT:
        meeting = np.flatnonzero(precision >= target)
        return points.cut(int(meeting[-1])) if len(meeting) else points.cut(
            int(np.argmax(precision)), reached=False)
    return points.cut(int(np.flatnonzero(recall >= target)[0]))


def at(threshold: float, scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> Cut:
    """Precision and recall of calling positive every row scored at or above `threshold`."""
    import numpy as np

    scores, labels, weights = (np.asarray(a, dtype=np.float64).reshape(-1)
                               for a in (scores, labels, weights))
    called, positive = scores >= threshold, labels > 0.5
    true_positives = float(np.sum(weights * (called & positive)))
    called_weight, positive_weight = float(np.sum(weights * called)), float(np.sum(weights * positive))
    return Cut(threshold, true_positives / called_weight if called_weight > 0 else None,
               true_positives / positive_weight if positive_weight > 0 else None)


def _defined(value: float) -> float | None:
    return None if value != value else float(value)
