"""Drift between spans, calibrated at both spans' sizes from both spans pooled: a clean span of
the same distribution passes on differently shaped columns and sizes (zero-inflated and sparse
counts, long tails, rare categories, integer codes, 100 rows against 5000), a real shift is
caught. NumPy only: fast."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from pipeline.config.project import DriftThresholds
from pipeline.data import drift, summaries
from pipeline.data.drift import Kind

SEEDS = range(20)
Values = Callable[[np.random.Generator, int], Sequence[float | str]]


def counts(zero_share: float, mean: float) -> Values:
    """Counts that are zero in `zero_share` of the rows, Poisson(mean) otherwise."""
    return lambda r, n: np.where(r.random(n) < zero_share, 0, r.poisson(mean, n)) * 1.0


def categories(shares: dict[str, float]) -> Values:
    """Category texts with these shares."""
    values, weights = list(shares), np.asarray(list(shares.values()))
    return lambda r, n: list(r.choice(values, size=n, p=weights / weights.sum()))


def moved(shares: dict[str, float], points: float) -> dict[str, float]:
    """The mix with `points` of share moved to the rarest value from all the others."""
    target = min(shares, key=lambda value: shares[value])
    return {v: s * (1 - points) + (points if v == target else 0.0) for v, s in shares.items()}


RARE = {"a": 0.6, "b": 0.3, **{f"rare{i}": 0.1 / 50 for i in range(50)}}
CODES = {str(i): 1 / 24 for i in range(24)}
SHAPES: dict[str, tuple[Kind, Values]] = {
    "zero-inflated counts": (Kind.NUMERIC, counts(0.7, 3.0)),
    "sparse counts": (Kind.NUMERIC, counts(0.995, 20.0)),
    "long tail": (Kind.NUMERIC, lambda r, n: r.lognormal(2.0, 1.5, n)),
    "normal": (Kind.NUMERIC, lambda r, n: r.normal(50.0, 10.0, n)),
    "rare categories": (Kind.CATEGORICAL, categories(RARE)),
    "integer codes": (Kind.CATEGORICAL, categories(CODES)),
}


def span(values: Sequence[float | str]) -> dict[str, dict[str, summaries.Column]]:
    """One feature's values as ExampleGen splits a span: train 3/4, eval 1/4."""
    cut = len(values) * 3 // 4
    return {"train": {"f": list(values[:cut])}, "eval": {"f": list(values[cut:])}}


def crossed(kind: Kind, before: Values, after: Values, rows: tuple[int, int], seed: int) -> bool:
    """Whether the span drawn from `after` drifted from the one drawn from `before`."""
    random = np.random.default_rng(1000 + seed)
    [check], _ = summaries.span_drift(span(before(random, rows[0])), span(after(random, rows[1])),
                                      {"f": kind}, DriftThresholds())
    return check.crossed


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("rows", [(200, 200), (100, 5000), (5000, 100)])
def test_a_clean_span_of_the_same_distribution_passes(shape: str, rows: tuple[int, int]) -> None:
    kind, values = SHAPES[shape]
    assert sum(crossed(kind, values, values, rows, seed) for seed in SEEDS) <= 1


@pytest.mark.parametrize(("shape", "rows"), [
    ("normal", (200, 200)), ("normal", (100, 5000)), ("zero-inflated counts", (1000, 1000)),
    ("long tail", (5000, 5000))])
def test_a_numeric_column_scaled_by_1_5_is_caught(shape: str, rows: tuple[int, int]) -> None:
    kind, values = SHAPES[shape]
    scaled: Values = lambda r, n: 1.5 * np.asarray(values(r, n))  # noqa: E731
    assert sum(crossed(kind, values, scaled, rows, seed) for seed in SEEDS) >= 18


@pytest.mark.parametrize("shares", [RARE, CODES], ids=["rare categories", "integer codes"])
@pytest.mark.parametrize("rows", [(200, 200), (5000, 200)])
def test_a_category_mix_moved_by_30_points_is_caught(
        shares: dict[str, float], rows: tuple[int, int]) -> None:
    before, after = categories(shares), categories(moved(shares, 0.3))
    assert sum(crossed(Kind.CATEGORICAL, before, after, rows, seed) for seed in SEEDS) >= 18


def test_the_threshold_follows_both_spans_sizes() -> None:
    values = counts(0.7, 3.0)
    limits = []
    for rows in ((100, 100), (100, 5000), (5000, 5000)):
        random = np.random.default_rng(7)
        [check], _ = summaries.span_drift(span(values(random, rows[0])), span(values(random, rows[1])),
                                          {"f": Kind.NUMERIC}, DriftThresholds())
        limits.append(check.threshold.noise)
        assert (check.baseline_rows, check.rows) == rows
    assert limits[0] > limits[1] > limits[2]


def test_the_previous_spans_own_split_distance_widens_the_threshold() -> None:
    previous = {"train": {"f": ["a"] * 300}, "eval": {"f": ["b"] * 100}}
    current = span(["a"] * 300 + ["b"] * 100)
    [check], _ = summaries.span_drift(previous, current, {"f": Kind.CATEGORICAL},
                                      DriftThresholds(factor=1.0, floor=0.0))
    assert check.threshold.split == pytest.approx(1.0) and check.threshold.value == pytest.approx(1.0)
    assert not check.crossed


def test_every_declared_feature_is_compared_or_named_with_the_reason() -> None:
    previous = {"train": {"n": [1.0, 2.0, 3.0] * 50, "c": ["x", "y"] * 75, "new": [None] * 150}}
    current = {"train": {"n": [2.0, 4.0, 6.0] * 50, "c": ["x", "y"] * 75, "new": ["z"] * 150}}
    kinds = {"n": Kind.NUMERIC, "c": Kind.CATEGORICAL, "new": Kind.CATEGORICAL,
             "gone": Kind.NUMERIC}
    checks, unmonitored = summaries.span_drift(previous, current, kinds, DriftThresholds())
    assert unmonitored == {"new": "no value in the previous span", "gone": "no value in the previous span"}
    by_name = {check.feature: check for check in checks}
    assert by_name["n"].crossed and not by_name["c"].crossed
    record = by_name["n"].record()
    assert record["measure"] == "wasserstein/mad" and record["crossed"] is True
    assert record["distance"] > record["threshold"] >= DriftThresholds().floor
    assert (record["rows"], record["baseline_rows"]) == (150, 150)


def test_text_integer_codes_and_numbers_are_one_category() -> None:
    previous = {"train": {"code": [3, 4] * 100}}
    current = {"train": {"code": ["3", "4.0"] * 100}}
    [check], _ = summaries.span_drift(previous, current, {"code": Kind.CATEGORICAL},
                                      DriftThresholds())
    assert check.value == 0.0


def test_a_numeric_summary_keeps_a_bounded_seeded_sample_of_its_values() -> None:
    small = drift.numeric([1.0, float("nan"), 3.0])
    assert small.sample == (1.0, 3.0) and small.rows == 2
    large = np.random.default_rng(0).lognormal(0, 1, 20_000)
    kept = drift.numeric(large)
    assert len(kept.sample) == drift.SAMPLE_ROWS and set(kept.sample) <= set(large.tolist())
    assert kept == drift.numeric(large)  # seeded: the same thresholds for the same data
