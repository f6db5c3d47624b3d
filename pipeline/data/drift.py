"""Distances between two distributions of one feature, and thresholds calibrated from the training
data itself: `monitor`'s skew and drift between windows (in data/ so the graph can import it).

A numeric feature is summarised by its quantile function on a fixed grid of probabilities; its
distance is the Wasserstein-1 distance of the two quantile functions (trimmed to the grid),
divided by the reference's mean absolute deviation, so it reads "how far the values moved, in
units of their usual spread" whatever the unit, and a point mass (zero-inflated counts) is one
value of the grid, not a histogram bucket edge. A categorical feature (strings, integer codes)
is summarised by its value shares; its distance is the L-infinity distance (the largest change
of one value's share), on which rare categories weigh only their own share.

A threshold is the distance two honest samples of the reference already show at the sizes
compared (a quantile of the distances between resamples of the reference), times a declared
factor, never below a declared floor. A numeric reference is resampled from a sample of its own
values (all of them up to SAMPLE_ROWS), not from its quantile grid: the grid leaves out the
outermost 1 %, which the end points of a small sample's grid do reach (a long tail, the rare
non-zero of a sparse count). NumPy only: no TensorFlow.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from pipeline.config.project import DriftThresholds

# Probabilities of the numeric summary: midpoints of 100 equal slices (trims 0.5 % each tail).
GRID = (np.arange(100) + 0.5) / 100
RESAMPLES = 200
NOISE_QUANTILE = 0.99
# Reference rows drawn per resample at most: beyond this the reference's own noise is negligible.
MAX_REFERENCE_ROWS = 50_000
# Categories resampled one by one at most; the rest of the tail is resampled as one.
MAX_CATEGORIES = 1000
# Values a numeric summary keeps for resampling: its tail down to 1 / SAMPLE_ROWS of the rows.
SAMPLE_ROWS = 2000


class Kind(str, enum.Enum):
    """How a feature's values are compared."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


DISTANCE_NAMES = {Kind.NUMERIC: "wasserstein/mad", Kind.CATEGORICAL: "l_infinity"}


@dataclass(frozen=True)
class Distribution:
    """One feature's values summarised: a quantile grid and a sample of values to resample
    (numeric) or value shares (categorical), and how many non-missing rows it was computed from."""

    kind: Kind
    rows: int
    quantiles: tuple[float, ...] = ()
    shares: Mapping[str, float] | None = None
    sample: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (a monitored window kept for the next window's drift)."""
        return {"kind": self.kind.value, "rows": self.rows, "quantiles": list(self.quantiles),
                "shares": dict(self.shares or {}), "sample": list(self.sample)}

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> Distribution:
        """Back from to_dict()."""
        shares = values.get("shares") or {}
        quantiles = values.get("quantiles") or []
        sample = values.get("sample") or []
        assert isinstance(shares, dict) and isinstance(quantiles, list) and isinstance(sample, list)
        kind = Kind(str(values["kind"]))
        return cls(kind, int(str(values["rows"])), tuple(float(q) for q in quantiles),
                   {str(k): float(v) for k, v in shares.items()}
                   if kind is Kind.CATEGORICAL else None, tuple(float(v) for v in sample))


@dataclass(frozen=True)
class Threshold:
    """A calibrated threshold and what it came from."""

    noise: float       # the NOISE_QUANTILE of distances between honest resamples
    split: float       # the distance between the training and eval splits (0 when unknown)
    value: float


def numeric(values: Iterable[float]) -> Distribution:
    """Quantile summary of numbers, with a seeded sample of them; NaN (missing) left out."""
    array = _present(values)
    if not array.size:
        return Distribution(Kind.NUMERIC, 0)
    sample = array if array.size <= SAMPLE_ROWS else \
        np.random.default_rng(0).choice(array, SAMPLE_ROWS, replace=False)
    return Distribution(Kind.NUMERIC, int(array.size), _quantiles(array),
                        sample=tuple(float(v) for v in sample))


def _present(values: Iterable[float]) -> np.ndarray:
    """The numbers as an array, NaN (missing) left out."""
    array = np.asarray(list(values), dtype=float)
    return array[~np.isnan(array)]


def _quantiles(array: np.ndarray) -> tuple[float, ...]:
    """The quantile grid of a non-empty array."""
    return tuple(float(v) for v in np.quantile(array, GRID, method="inverted_cdf"))


def categorical(values: Iterable[str | None]) -> Distribution:
    """Value shares of category texts; None (missing) left out."""
    counts = Counter(v for v in values if v is not None)
    total = sum(counts.values())
    shares = {value: count / total for value, count in counts.items()} if total else {}
    return Distribution(Kind.CATEGORICAL, total, shares=shares)


def from_counts(counts: Mapping[str, float]) -> Distribution:
    """A categorical summary from counts per value."""
    total = float(sum(counts.values()))
    shares = {str(k): v / total for k, v in counts.items()} if total else {}
    return Distribution(Kind.CATEGORICAL, int(round(total)), shares=shares)


def distance(reference: Distribution, current: Distribution) -> float:
    """The distance of `current` from `reference` (same kind), in the kind's own measure."""
    if reference.kind is not current.kind:
        raise ValueError(f"cannot compare a {reference.kind.value} with a {current.kind.value} summary")
    if reference.kind is Kind.NUMERIC:
        return _wasserstein(np.asarray(reference.quantiles), np.asarray(current.quantiles))
    return _l_infinity(reference.shares or {}, current.shares or {})


def _wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """Mean gap of the quantile functions over the grid, in units of the reference's spread."""
    return float(np.mean(np.abs(current - reference)) / _spread(reference))


def _spread(quantiles: np.ndarray) -> float:
    """Mean absolute deviation of the grid; for a constant column, its magnitude (or 1)."""
    deviation = float(np.mean(np.abs(quantiles - quantiles.mean())))
    return deviation if deviation > 0 else max(abs(float(quantiles.mean())), 1.0)


def _l_infinity(reference: Mapping[str, float], current: Mapping[str, float]) -> float:
    """The largest change of one value's share (a value absent on one side has share 0)."""
    values = set(reference) | set(current)
    return max((abs(reference.get(v, 0.0) - current.get(v, 0.0)) for v in values), default=0.0)


def noise(reference: Distribution, rows: int, reference_rows: int | None = None,
          seed: int = 0) -> float:
    """The NOISE_QUANTILE of distances between two honest samples of `reference`: one of
    `reference_rows` (default: the reference's own size) and one of `rows`."""
    if rows <= 0 or reference.rows <= 0:
        return 0.0
    random = np.random.default_rng(seed)
    size = min(reference_rows or reference.rows, MAX_REFERENCE_ROWS)
    if reference.kind is Kind.CATEGORICAL:
        distances = _categorical_distances(reference, size, rows, random)
    else:
        distances = np.asarray([
            distance(_numeric_sample(reference, size, random),
                     _numeric_sample(reference, rows, random)) for _ in range(RESAMPLES)])
    return float(np.quantile(distances, NOISE_QUANTILE))


def _numeric_sample(reference: Distribution, rows: int, random: np.random.Generator) -> Distribution:
    """A resample of `rows` values from the reference's sample."""
    kept = np.asarray(reference.sample)
    return Distribution(Kind.NUMERIC, rows, _quantiles(kept[random.integers(0, kept.size, size=rows)]))


def _categorical_distances(reference: Distribution, size: int, rows: int,
                           random: np.random.Generator) -> np.ndarray:
    """L-infinity distances between RESAMPLES pairs of multinomial resamples of the reference's
    shares (of `size` and `rows` values), as arrays: thousands of categories stay fast."""
    shares = np.sort(np.asarray(list((reference.shares or {}).values())))[::-1]
    # A long tail is one category here: bounded cost, and a wider (never a narrower) threshold.
    shares = np.append(shares[:MAX_CATEGORIES], shares[MAX_CATEGORIES:].sum())
    shares = shares / shares.sum()
    first = random.multinomial(size, shares, size=RESAMPLES) / size
    second = random.multinomial(rows, shares, size=RESAMPLES) / rows
    return np.abs(first - second).max(axis=1)


def threshold(reference: Distribution, rows: int, settings: DriftThresholds,
              reference_rows: int | None = None, split_distance: float = 0.0) -> Threshold:
    """factor x the larger of the resampling noise at these sizes and the distance between the
    training and eval splits, never below the floor."""
    measured = noise(reference, rows, reference_rows)
    value = max(settings.factor * max(measured, split_distance), settings.floor)
    return Threshold(noise=measured, split=split_distance, value=value)


@dataclass(frozen=True)
class Drift:
    """One feature compared between two datasets, and its calibrated threshold."""

    feature: str
    kind: Kind
    value: float
    threshold: Threshold

    @property
    def crossed(self) -> bool:
        """Whether the distance is above the threshold."""
        return self.value > self.threshold.value

