"""One tiny end-to-end run of the benchmark suite: cold, warm and forced runs, report files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import report
from pipeline.config import PROJECT_ROOT
from tests.support.bench import PNG_MAGIC, TINY_SCALE


def test_suite_runs_at_a_tiny_scale(tmp_path: Path) -> None:
    output = tmp_path / "results"
    command = [
        sys.executable, "-m", "benchmarks", "--scales", str(TINY_SCALE), "--train-steps", "10",
        "--serving-calls", "3", "--no-tfx-example", "--no-airflow", "--no-windows",
        "--no-fixed-costs", "--no-score", "--no-weekly", "--work-dir", str(tmp_path / "work"),
        "--output", str(output),
    ]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((output / report.JSON_NAME).read_text())
    e2e = results["end_to_end"]
    assert e2e["rows"] == round(TINY_SCALE * 15002)
    cold, warm, forced = e2e["ours"]["cold"], e2e["ours"]["warm"], e2e["ours"]["warm_forced"]
    assert cold["components"]["Trainer"]["state"] == "COMPLETE"
    assert "fixed_costs" not in e2e["ours"]  # its flag skips it (tests/unit/tools covers it)
    assert "scoring" not in results and "weekly" not in results  # so do theirs
    assert warm["reused_run"] == cold["run_id"]
    assert forced["run_id"] != cold["run_id"]
    assert forced["components"]["Transform"]["state"] == "CACHED"
    assert 0 < warm["seconds"] < forced["seconds"] < cold["seconds"]
    edit = e2e["ours"]["model_edit"]
    assert {node: edit["components"][node]["state"] for node in ("Transform", "Trainer")} == {
        "Transform": "CACHED", "Trainer": "COMPLETE"}
    assert results["summary"]["model_edit_over_cold"] == pytest.approx(edit["seconds"] / cold["seconds"])
    assert cold["peak_rss_mib"] > 100
    assert results["summary"]["warm_over_cold"] == pytest.approx(warm["seconds"] / cold["seconds"])
    [scaling] = results["scaling"]
    assert scaling["rows_per_second"]["Transform"] > 0
    signatures = results["models"]["serving"]["signatures"]
    for timings in signatures.values():
        assert [t["batch"] for t in timings] == [1, 32, 1024]
        assert all(0 < t["p50_ms"] <= t["p99_ms"] for t in timings)
    assert 0.0 <= results["models"]["common_holdout"]["ours"]["auc"] <= 1.0
    checks = results["identical_results"]
    assert checks["unchanged_input"]["ok"] is True
    assert checks["reference"]["ok"] is None  # no reference is recorded for 10 steps
    assert results["profile"]["components"]["Transform"]["top"]
    text = (output / report.MARKDOWN_NAME).read_text()
    assert "cold wall time" in text and "### Where the time goes" in text
    assert (output / report.PLOT_NAME).read_bytes().startswith(PNG_MAGIC)
