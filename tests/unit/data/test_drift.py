"""Calibrated distances on differently shaped data: clean samples of the training distribution
pass (at most one false alarm in 20 seeds), real shifts are caught, at the batch size monitored."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from pipeline.config.project import DriftThresholds
from pipeline.data import drift

TRAINING_ROWS = 5000
SEEDS = range(20)
Numbers = Callable[[np.random.Generator, int], np.ndarray]

NUMERIC: dict[str, Numbers] = {
    "zero-inflated counts": lambda r, n: np.where(r.random(n) < 0.7, 0, r.poisson(3, n)) * 1.0,
    "skewed": lambda r, n: r.lognormal(3.0, 1.0, n),
    "integer counts": lambda r, n: r.poisson(1.2, n) * 1.0,
    "normal": lambda r, n: r.normal(50.0, 10.0, n),
}
RARE = {"a": 0.6, "b": 0.3, **{f"rare{i}": 0.1 / 50 for i in range(50)}}
CODES = {str(i): 1 / 24 for i in range(24)}
CATEGORICAL = {"balanced": {"x": 0.4, "y": 0.35, "z": 0.25}, "rare categories": RARE,
               "integer codes": CODES}


def categories(shares: dict[str, float]) -> Callable[[np.random.Generator, int], list[str]]:
    """A sampler of category texts with these shares."""
    values, weights = list(shares), np.asarray(list(shares.values()))
    return lambda r, n: list(r.choice(values, size=n, p=weights / weights.sum()))


def moved(shares: dict[str, float], points: float) -> dict[str, float]:
    """The mix with `points` of share moved to the rarest value from all the others."""
    target = min(shares, key=lambda value: shares[value])
    return {v: s * (1 - points) + (points if v == target else 0.0) for v, s in shares.items()}


def alarms(reference: drift.Distribution, samples: list[drift.Distribution]) -> int:
    """How many samples cross the threshold calibrated for their size."""
    limit = drift.threshold(reference, samples[0].rows, DriftThresholds()).value
    return sum(drift.distance(reference, sample) > limit for sample in samples)


@pytest.mark.parametrize("shape", NUMERIC)
@pytest.mark.parametrize(("rows", "scale"), [(30, 3.0), (1000, 1.5), (20000, 1.1)])
def test_numeric_clean_samples_pass_and_a_scaled_column_is_caught(
        shape: str, rows: int, scale: float) -> None:
    generate = NUMERIC[shape]
    reference = drift.numeric(generate(np.random.default_rng(1), TRAINING_ROWS))
    clean = [drift.numeric(generate(np.random.default_rng(100 + s), rows)) for s in SEEDS]
    shifted = [drift.numeric(scale * generate(np.random.default_rng(100 + s), rows)) for s in SEEDS]
    assert alarms(reference, clean) <= 1
    assert alarms(reference, shifted) >= 18


@pytest.mark.parametrize("shape", CATEGORICAL)
@pytest.mark.parametrize(("rows", "points"), [(50, 0.6), (200, 0.3), (20000, 0.1)])
def test_categorical_clean_samples_pass_and_a_changed_mix_is_caught(
        shape: str, rows: int, points: float) -> None:
    shares = CATEGORICAL[shape]
    reference = drift.categorical(categories(shares)(np.random.default_rng(1), TRAINING_ROWS))
    clean = [drift.categorical(categories(shares)(np.random.default_rng(100 + s), rows))
             for s in SEEDS]
    shifted = [drift.categorical(categories(moved(shares, points))(np.random.default_rng(100 + s),
                                                                   rows)) for s in SEEDS]
    assert alarms(reference, clean) <= 1
    assert alarms(reference, shifted) >= 18


def test_the_threshold_follows_the_batch_size() -> None:
    reference = drift.numeric(NUMERIC["zero-inflated counts"](np.random.default_rng(1), 5000))
    sizes = [drift.threshold(reference, rows, DriftThresholds()).value for rows in (30, 300, 3000)]
    assert sizes[0] > sizes[1] > sizes[2]


def test_the_declared_factor_scales_and_the_floor_bounds_the_threshold() -> None:
    reference = drift.categorical(["a", "b"] * 500)
    base = drift.threshold(reference, 100, DriftThresholds(factor=1.0, floor=0.0))
    doubled = drift.threshold(reference, 100, DriftThresholds(factor=2.0, floor=0.0))
    assert doubled.value == pytest.approx(2 * base.value) and base.value == base.noise > 0
    constant = drift.numeric([7.0] * 1000)
    floored = drift.threshold(constant, 100, DriftThresholds(floor=0.05))
    assert floored.noise == 0.0 and floored.value == 0.05
    assert drift.distance(constant, drift.numeric([7.0] * 100)) == 0.0
    assert drift.distance(constant, drift.numeric([8.0] * 100)) > 0.05


def test_the_train_eval_distance_raises_the_threshold_when_larger_than_the_noise() -> None:
    reference = drift.categorical(["a", "b"] * 5000)
    plain = drift.threshold(reference, 20000, DriftThresholds())
    wider = drift.threshold(reference, 20000, DriftThresholds(), split_distance=0.1)
    assert wider.value == pytest.approx(1.5 * 0.1)
    assert wider.value > plain.value


def test_an_unseen_category_counts_with_its_share() -> None:
    reference = drift.categorical(["a"] * 90 + ["b"] * 10)
    assert drift.distance(reference, drift.categorical(["a"] * 80 + ["b"] * 10 + ["new"] * 10)) \
        == pytest.approx(0.1)


def test_summaries_keep_their_values_through_json() -> None:
    previous = drift.numeric(np.random.default_rng(3).gamma(2.0, 10.0, 500))
    assert drift.Distribution.from_dict(previous.to_dict()) == previous
    assert drift.from_counts({"a": 3, "b": 1}).shares == {"a": 0.75, "b": 0.25}
    shares = drift.categorical(["a", "b", "a"])
    assert drift.Distribution.from_dict(shares.to_dict()) == shares
