"""reproduce's comparison: tolerance per item, the largest difference, the report lines, the verdict."""

from __future__ import annotations

import math

from pipeline.config.project import Reproducibility, Tolerance
from pipeline.run.reproduce import (
    Check,
    Compared,
    compare_metrics,
    compare_rows,
    verdict,
)

TRANSFORMED = Tolerance(abs=1e-5, rel=1e-5)
INFORMATIONAL = ("git_commit", "packages")


def rows(*fares: float, company: bytes = b"Flash Cab") -> dict[str, list[dict[str, list]]]:
    return {"Split-train": [{"fare_xf": [fare], "company_xf": [company], "hour": [3]}
                            for fare in fares]}


def test_identical_rows_are_exact() -> None:
    result = compare_rows("Transform.transformed_examples", rows(0.5, 1.5), rows(0.5, 1.5), TRANSFORMED)
    assert result.exact and result.ok and result.largest == 0.0


def test_float_noise_within_the_bound_is_reported_with_its_largest_difference() -> None:
    result = compare_rows("Transform.transformed_examples", rows(0.5, 1.5), rows(0.5, 1.5 + 4e-6),
                          TRANSFORMED)
    assert result.ok and not result.exact
    assert math.isclose(result.largest, 4e-6, rel_tol=1e-3) and result.where == "fare_xf"


def test_a_float_beyond_the_bound_counts_as_outside() -> None:
    result = compare_rows("Transform.transformed_examples", rows(0.5, 1.5), rows(0.5, 1.6), TRANSFORMED)
    assert not result.ok and result.outside == 1


def test_examples_held_exactly_fail_on_the_smallest_float_difference() -> None:
    result = compare_rows("CsvExampleGen.examples", rows(0.5), rows(0.5 + 1e-9), Tolerance())
    assert not result.ok and result.largest > 0


def test_strings_integers_and_row_counts_are_never_within_tolerance() -> None:
    changed = compare_rows("t", rows(0.5), rows(0.5, company=b"Taxi Affiliation"), TRANSFORMED)
    assert not changed.ok and "company_xf" in changed.problem
    fewer = compare_rows("t", rows(0.5, 1.5), rows(0.5), TRANSFORMED)
    assert not fewer.ok and "rows per split" in fewer.problem


def test_metrics_within_tolerance_and_diff_metrics_skipped() -> None:
    bound = Reproducibility().metrics
    results = compare_metrics({"auc": 0.9539718, "calibration": 1.01162, "auc_diff": 0.1},
                              {"auc": 0.9539752, "calibration": 1.01154}, bound)
    assert [r.name for r in results] == ["metric auc", "metric calibration"]
    assert all(r.ok and not r.exact for r in results)
    assert not compare_metrics({"auc": 0.95}, {"auc": 0.96}, bound)[0].ok


def test_a_metric_missing_on_one_side_or_nothing_recorded_is_a_problem() -> None:
    bound = Reproducibility().metrics
    assert compare_metrics({"auc": 0.9}, {}, bound)[0].problem == "missing now"
    assert compare_metrics({}, {"auc": 0.9}, bound)[0].problem == "none recorded"
    nan = compare_metrics({"precision": math.nan}, {"precision": math.nan}, bound)[0]
    assert nan.exact


def test_the_verdict_is_one_of_three_with_its_exit_code() -> None:
    same = Compared("CsvExampleGen.examples", Tolerance())
    close = Compared("metric auc", Tolerance(1e-4, 1e-4))
    close.add(0.95, 0.95 + 1e-6, "auc")
    far = Compared("metric auc", Tolerance(1e-4, 1e-4))
    far.add(0.95, 0.96, "auc")
    git = Check("git_commit", "a", "b", False)
    assert verdict([git], [same], INFORMATIONAL) == ("REPRODUCED exactly", 0)
    assert verdict([git], [same, close], INFORMATIONAL) == ("REPRODUCED within tolerance", 0)
    assert verdict([git], [same, far], INFORMATIONAL) == ("MISMATCH: metric auc moved", 1)
    code = Check("code_fingerprint", "a", "b", False)
    assert verdict([code], [same], INFORMATIONAL) == ("MISMATCH: code_fingerprint moved", 1)
