"""Distances between two distributions of one feature, and thresholds calibrated from the training
data itself: the one measure `monitor` (skew, drift between windows) and the pipeline's span
validator (drift between spans) both use.

A numeric feature is summarised by its quantile function on a fixed grid of probabilities; its
distance is the Wasserstein-1 distance of the two quantile functions (trimmed to the grid),
divided by the reference's mean absolute deviation, so it reads "how far the values moved, in
units of their usual spread" whatever the unit, and a point mass (zero-inflated counts) is one
value of the grid, not a histogram bucket edge. A categorical feature (strings, integer codes)
is summarised by its value shares; its distance is the L-infinity distance (the largest change
of one value's share), on which rare categories weigh only their own share.

A threshold is the distance two honest samples of the reference already show at the sizes
compared (a quantile of the distances between resamples of the reference), times a declared
factor, never below a declared floor. NumPy only: no TensorFlow.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pipeline.config.project import DriftThresholds

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import statistics_pb2

# Probabilities of the numeric summary: midpoints of 100 equal slices (trims 0.5 % each tail).
GRID = (np.arange(100) + 0.5) / 100
RESAMPLES = 200
NOISE_QUANTILE = 0.99
# Reference rows drawn per resample at most: beyond this the reference's own noise is negligible.
MAX_REFERENCE_ROWS = 50_000
# Categories resampled one by one at most; the rest of the tail is resampled as one.
MAX_CATEGORIES = 1000


class Kind(str, enum.Enum):
    """How a feature's values are compared."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


DISTANCE_NAMES = {Kind.NUMERIC: "wasserstein/mad", Kind.CATEGORICAL: "l_infinity"}


@dataclass(frozen=True)
class Distribution:
    """One feature's values summarised: a quantile grid (numeric) or value shares (categorical),
    and how many non-missing rows it was computed from."""

    kind: Kind
    rows: int
    quantiles: tuple[float, ...] = ()
    shares: Mapping[str, float] | None = None
    # Numeric summaries made from k equal quantile buckets (TFDV's statistics): k; from values: 0.
    buckets: int = 0

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (a monitored window kept for the next window's drift)."""
        return {"kind": self.kind.value, "rows": self.rows, "quantiles": list(self.quantiles),
                "shares": dict(self.shares or {}), "buckets": self.buckets}

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> Distribution:
        """Back from to_dict()."""
        shares = values.get("shares") or {}
        quantiles = values.get("quantiles") or []
        assert isinstance(shares, dict) and isinstance(quantiles, list)
        kind = Kind(str(values["kind"]))
        return cls(kind, int(str(values["rows"])), tuple(float(q) for q in quantiles),
                   {str(k): float(v) for k, v in shares.items()}
                   if kind is Kind.CATEGORICAL else None, int(str(values.get("buckets", 0))))


@dataclass(frozen=True)
class Threshold:
    """A calibrated threshold and what it came from."""

    noise: float       # the NOISE_QUANTILE of distances between honest resamples
    split: float       # the distance between the training and eval splits (0 when unknown)
    value: float


def numeric(values: Iterable[float]) -> Distribution:
    """Quantile summary of numbers; NaN (missing) left out."""
    array = np.asarray(list(values), dtype=float)
    array = array[~np.isnan(array)]
    if not array.size:
        return Distribution(Kind.NUMERIC, 0)
    grid = np.quantile(array, GRID, method="inverted_cdf")
    return Distribution(Kind.NUMERIC, int(array.size), tuple(float(v) for v in grid))


def categorical(values: Iterable[str | None]) -> Distribution:
    """Value shares of category texts; None (missing) left out."""
    counts = Counter(v for v in values if v is not None)
    total = sum(counts.values())
    shares = {value: count / total for value, count in counts.items()} if total else {}
    return Distribution(Kind.CATEGORICAL, total, shares=shares)


def from_quantiles(boundaries: Sequence[float], rows: int) -> Distribution:
    """A numeric summary from equally spaced quantile boundaries (TFDV's quantiles histogram:
    Q(0), Q(1/k), ..., Q(1)), interpolated onto GRID. The minimum and maximum are left out and
    the grid held at Q(1/k) and Q(1 - 1/k) beyond them: one outlier of a span would otherwise
    stretch a whole bucket of the grid."""
    if len(boundaries) < 3:
        return Distribution(Kind.NUMERIC, 0)
    known = np.linspace(0.0, 1.0, len(boundaries))[1:-1]
    grid = np.interp(GRID, known, np.asarray(boundaries, dtype=float)[1:-1])
    return Distribution(Kind.NUMERIC, rows, tuple(float(v) for v in grid), buckets=len(known) + 1)


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
    """A resample of `rows` values from the reference's quantile grid, summarised as the
    reference was (from its values, or from k quantile buckets)."""
    grid = np.asarray(reference.quantiles)
    values = grid[random.integers(0, grid.size, size=rows)]
    if reference.buckets:
        edges = np.quantile(values, np.linspace(0.0, 1.0, reference.buckets + 1))
        return from_quantiles(edges.tolist(), rows)
    return numeric(values)


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
    """One feature compared between two datasets' statistics (spans)."""

    feature: str
    kind: Kind
    value: float
    threshold: Threshold

    @property
    def crossed(self) -> bool:
        """Whether the distance is above the threshold."""
        return self.value > self.threshold.value

    def description(self) -> str:
        """The anomaly's wording."""
        return (f"The {DISTANCE_NAMES[self.kind]} distance from the previous span is "
                f"{self.value:.3f}, above the threshold {self.threshold.value:.3f} calibrated "
                f"from the previous span (noise {self.threshold.noise:.3f})")


def statistics_summary(feature: statistics_pb2.FeatureNameStatistics) -> Distribution | None:
    """A feature's summary from TFDV statistics: value counts of strings (its rank histogram),
    the quantiles histogram of numbers; None when the statistics hold neither."""
    if feature.HasField("string_stats"):
        buckets = feature.string_stats.rank_histogram.buckets
        counts = {b.label: b.sample_count for b in buckets} or {
            v.value: v.frequency for v in feature.string_stats.top_values}
        return from_counts(counts) if counts else None
    if feature.HasField("num_stats"):
        rows = int(feature.num_stats.common_stats.num_non_missing)
        for histogram in feature.num_stats.histograms:
            if histogram.type == histogram.QUANTILES and histogram.buckets:
                edges = [b.low_value for b in histogram.buckets] + [histogram.buckets[-1].high_value]
                return from_quantiles(edges, rows)
    return None


def statistics_drift(
    current: statistics_pb2.DatasetFeatureStatisticsList,
    previous: statistics_pb2.DatasetFeatureStatisticsList,
    features: Sequence[str], settings: DriftThresholds,
) -> list[Drift]:
    """Each of `features` present in both statistics, compared with the threshold calibrated from
    the previous dataset at the current one's size: the span validator's drift check."""
    before, after = _summaries(previous), _summaries(current)
    compared = []
    for name in features:
        reference, window = before.get(name), after.get(name)
        if reference is None or window is None or reference.kind is not window.kind:
            continue
        limit = threshold(reference, window.rows, settings)
        compared.append(Drift(name, reference.kind, distance(reference, window), limit))
    return compared


def _summaries(statistics: statistics_pb2.DatasetFeatureStatisticsList) -> dict[str, Distribution]:
    """The summary of every feature of the first dataset, by name."""
    summaries = {}
    for dataset in statistics.datasets[:1]:
        for feature in dataset.features:
            summary = statistics_summary(feature)
            name = feature.path.step[-1] if feature.path.step else feature.name
            if summary is not None and summary.rows:
                summaries[name] = summary
    return summaries
