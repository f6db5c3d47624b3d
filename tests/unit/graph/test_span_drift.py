"""The span validator's drift check: spans' TFDV statistics compared with the calibrated distances
`monitor` uses; a clean span passes (an outlier included), a doubled count or a moved category
mix is an anomaly. (From 10 quantile buckets, a 1.5x scale of a zero-inflated count is at the
threshold: the graph's check is coarser than `monitor`'s.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2

from pipeline.config.project import DriftThresholds
from pipeline.data import drift
from pipeline.graph.span_validator import add_drift, drift_parameter

# TFDV computes the statistics (Beam): `make test-unit` skips it, `make test` runs it.
pytestmark = pytest.mark.slow
ROWS = 2000


def span_statistics(seed: int, scale: float = 1.0, cash: float = 0.3):
    """TFDV statistics of a span: a zero-inflated count, a skewed amount and a payment mix."""
    import tensorflow_data_validation as tfdv

    random = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "calls": np.where(random.random(ROWS) < 0.7, 0, random.poisson(3, ROWS)) * scale,
        # One far outlier per span: the extremes of a span do not make drift.
        "amount": np.append(random.lognormal(2.0, 1.0, ROWS - 1), random.uniform(1e3, 1e5)),
        "payment": random.choice(["cash", "card", "app"], ROWS, p=[cash, 0.6 - cash / 2,
                                                                   0.4 - cash / 2]),
    })
    return tfdv.generate_statistics_from_dataframe(frame)


@pytest.fixture(scope="module")
def previous():
    return span_statistics(1)


def crossed(previous, current) -> list[str]:
    compared = drift.statistics_drift(current, previous, ["calls", "amount", "payment"],
                                      DriftThresholds())
    assert sorted(c.feature for c in compared) == ["amount", "calls", "payment"]
    return [c.feature for c in compared if c.crossed]


def test_clean_spans_pass(previous) -> None:
    assert [crossed(previous, span_statistics(seed)) for seed in (2, 3, 4)] == [[], [], []]


def test_a_scaled_count_and_a_moved_mix_are_drift_anomalies(previous) -> None:
    assert crossed(previous, span_statistics(5, scale=2.0)) == ["calls"]
    current = span_statistics(6, cash=0.6)
    assert crossed(previous, current) == ["payment"]
    anomalies = anomalies_pb2.Anomalies()
    add_drift(anomalies, drift.statistics_drift(current, previous, ["payment"], DriftThresholds()))
    [reason] = anomalies.anomaly_info["payment"].reason
    assert reason.type == anomalies_pb2.AnomalyInfo.COMPARATOR_L_INFTY_HIGH
    assert reason.description.startswith("The l_infinity distance from the previous span is ")


def test_the_parameter_carries_the_declared_calibration() -> None:
    text = drift_parameter(["calls"], DriftThresholds(factor=2.0, floor=0.1))
    assert text == '{"features": ["calls"], "thresholds": {"factor": 2.0, "floor": 0.1}}'
