"""`reproduce`'s report lines: the largest difference and the bound each output was held to."""

from __future__ import annotations

from pipeline.cli.run import format_compared
from pipeline.config.project import Tolerance
from pipeline.run.reproduce import Compared


def test_report_lines_give_the_largest_difference_and_the_bound() -> None:
    exact = Compared("CsvExampleGen.examples", Tolerance())
    within = Compared("metric auc", Tolerance(1e-4, 1e-4), recorded="0.9539718", reproduced="0.9539752")
    within.add(0.9539718, 0.9539752, "auc")
    beyond = Compared("metric calibration", Tolerance(1e-4, 1e-4))
    beyond.add(1.0, 1.1, "calibration")
    lines = format_compared([exact, within, beyond]).splitlines()
    assert lines[0] == "  EXACT    CsvExampleGen.examples: largest difference 0, bound exact"
    assert lines[1].startswith("  WITHIN   metric auc: largest difference 3.4e-06 (auc), "
                               "bound 0.0001 abs + 0.0001 rel")
    assert "recorded 0.9539718, now 0.9539752" in lines[1]
    assert lines[2].startswith("  DIFFERS  metric calibration: largest difference 0.1")
    assert "1 value(s) outside bound 0.0001 abs + 0.0001 rel" in lines[2]
