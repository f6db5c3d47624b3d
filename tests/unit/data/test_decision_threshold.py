"""The decision threshold rules on synthetic scores, checked against brute force over every cut."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config.project import ThresholdDeclaration, ThresholdRule
from pipeline.data import decision_threshold
from pipeline.data.decision_threshold import at, choose


def _rows(seed: int, n: int = 400, positive_share: float = 0.1) -> tuple[np.ndarray, ...]:
    """Scores that rank positives higher on average, coarse enough to tie, and mixed weights
    (some 0: rows a project weighs out)."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < positive_share).astype(float)
    scores = np.round(np.clip(0.25 * labels + 0.6 * rng.random(n), 0, 1), 2)
    weights = rng.choice([0.0, 0.5, 1.0, 2.0], size=n)
    return scores, labels, weights


def _every_cut(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> list[tuple[float, ...]]:
    """(threshold, precision, recall, f1) of calling positive from each distinct weighted score."""
    cuts = []
    for threshold in np.unique(scores[weights > 0]):
        called = scores >= threshold
        tp = np.sum(weights * (called & (labels == 1)))
        called_weight, positives = np.sum(weights * called), np.sum(weights * (labels == 1))
        precision, recall = tp / called_weight, tp / positives
        cuts.append((threshold, precision, recall, 2 * precision * recall / (precision + recall or 1)))
    return cuts


def _same_calls(cut: float, brute: float, scores: np.ndarray, weights: np.ndarray) -> bool:
    """Whether two thresholds call the same weighted rows positive."""
    kept = scores[weights > 0]
    return bool(np.array_equal(kept >= cut, kept >= brute))


@pytest.mark.parametrize("seed", range(5))
def test_max_f1_is_the_best_f1_of_every_cut(seed: int) -> None:
    scores, labels, weights = _rows(seed)
    chosen = choose(ThresholdDeclaration(ThresholdRule.MAX_F1, None), scores, labels, weights)
    best = max(_every_cut(scores, labels, weights), key=lambda cut: cut[3])
    assert _same_calls(chosen.threshold, best[0], scores, weights)
    assert chosen.precision == pytest.approx(best[1]) and chosen.recall == pytest.approx(best[2])
    # The cut sits between two scores, and `at` gives what `choose` reported.
    assert chosen.threshold not in set(scores)
    again = at(chosen.threshold, scores, labels, weights)
    assert (again.precision, again.recall) == pytest.approx((chosen.precision, chosen.recall))
    assert chosen.reached and chosen.threshold != 0.5


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("target", [0.3, 0.5, 0.8])
def test_precision_at_takes_the_lowest_cut_reaching_the_precision(seed: int, target: float) -> None:
    scores, labels, weights = _rows(seed)
    chosen = choose(ThresholdDeclaration(ThresholdRule.PRECISION_AT, target), scores, labels, weights)
    meeting = [cut for cut in _every_cut(scores, labels, weights) if cut[1] >= target]
    assert chosen.reached and chosen.precision is not None and chosen.precision >= target
    assert _same_calls(chosen.threshold, min(cut[0] for cut in meeting), scores, weights)
    assert chosen.recall == pytest.approx(max(cut[2] for cut in meeting))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("target", [0.5, 0.9, 1.0])
def test_recall_at_takes_the_highest_cut_reaching_the_recall(seed: int, target: float) -> None:
    scores, labels, weights = _rows(seed)
    chosen = choose(ThresholdDeclaration(ThresholdRule.RECALL_AT, target), scores, labels, weights)
    meeting = [cut for cut in _every_cut(scores, labels, weights) if cut[2] >= target - 1e-12]
    assert chosen.reached and chosen.recall is not None and chosen.recall >= target - 1e-12
    assert _same_calls(chosen.threshold, max(cut[0] for cut in meeting), scores, weights)


def test_fixed_keeps_the_declared_cut_and_reports_it() -> None:
    scores, labels, weights = _rows(0)
    chosen = choose(ThresholdDeclaration(ThresholdRule.FIXED, 0.3), scores, labels, weights)
    assert chosen.threshold == 0.3
    assert (chosen.precision, chosen.recall) == (at(0.3, scores, labels, weights).precision,
                                                 at(0.3, scores, labels, weights).recall)


def test_rows_of_weight_zero_change_nothing() -> None:
    scores, labels, weights = _rows(1)
    declared = ThresholdDeclaration(ThresholdRule.MAX_F1, None)
    padded = (np.append(scores, [0.99] * 50), np.append(labels, [0.0] * 50),
              np.append(weights, [0.0] * 50))
    assert choose(declared, *padded) == choose(declared, scores, labels, weights)


def test_equal_scores_are_called_together() -> None:
    scores = np.array([0.9, 0.7, 0.7, 0.7, 0.2])
    labels = np.array([1.0, 1.0, 0.0, 1.0, 0.0])
    chosen = choose(ThresholdDeclaration(ThresholdRule.RECALL_AT, 0.9), scores, labels, np.ones(5))
    assert 0.2 < chosen.threshold < 0.7  # all three 0.7 rows in, the 0.2 row out
    assert chosen.precision == pytest.approx(3 / 4) and chosen.recall == 1.0


def test_unreachable_rules_say_so() -> None:
    scores, labels, weights = _rows(2)
    no_positive = choose(ThresholdDeclaration(ThresholdRule.MAX_F1, None), scores,
                         np.zeros_like(labels), weights)
    assert (no_positive.threshold, no_positive.reached) == (0.5, False)
    noisy = np.array([0.9, 0.8, 0.1]), np.array([0.0, 1.0, 1.0]), np.ones(3)
    too_precise = choose(ThresholdDeclaration(ThresholdRule.PRECISION_AT, 0.95), *noisy)
    assert not too_precise.reached and too_precise.precision == pytest.approx(2 / 3)
    empty = choose(ThresholdDeclaration(ThresholdRule.MAX_F1, None), np.zeros(0), np.zeros(0),
                   np.zeros(0))
    assert (empty.threshold, empty.reached) == (0.5, False)


def test_precision_is_undefined_when_no_row_is_called_positive() -> None:
    cut = at(0.95, np.array([0.1, 0.2]), np.array([1.0, 0.0]), np.ones(2))
    assert cut.precision is None and cut.recall == 0.0
    assert decision_threshold.at(0.5, np.array([0.6]), np.array([0.0]), np.ones(1)).recall is None
