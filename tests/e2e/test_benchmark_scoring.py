"""The benchmark's batch-scoring and weekly-loop scenarios at tiny sizes: they run the real
commands and write their fields, table rows and plot (never their timings)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from benchmarks import report
from pipeline.config import PROJECT_ROOT
from tests.support.bench import PNG_MAGIC, TINY_SCALE

WEEK_ROWS = 200
LOOP = ["feedback", "promote", "ingest", "run", "score", "monitor"]


def scenario(module: str, tmp_path: Path, *flags: str) -> tuple[dict, str]:
    """`python -m benchmarks.<module>` in a child process: its results.json and results.md."""
    output = tmp_path / "results"
    command = [sys.executable, "-m", f"benchmarks.{module}", "--work-dir", str(tmp_path / "work"),
               "--output", str(output), *flags]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (output / report.PLOT_NAME).read_bytes().startswith(PNG_MAGIC)
    return json.loads((output / report.JSON_NAME).read_text()), (
        output / report.MARKDOWN_NAME).read_text()


def test_score_and_its_in_process_ceiling_at_two_sizes(tmp_path: Path) -> None:
    results, markdown = scenario("scoring", tmp_path, "--scales", str(TINY_SCALE),
                                 str(2 * TINY_SCALE), "--train-steps", "10")
    scoring = results["scoring"]
    assert [p["scale"] for p in scoring["points"]] == [TINY_SCALE, 2 * TINY_SCALE]
    for point in scoring["points"]:
        rows = round(point["scale"] * 15002)
        assert point["rows"] == point["ceiling"]["answer"]["rows"] == rows
        assert point["score"]["exit_code"] == point["ceiling"]["exit_code"] == 0
        assert point["score"]["answer"]["version"] == 1
        with open(point["score"]["answer"]["output"], newline="") as handle:
            scored = list(csv.DictReader(handle))
        assert len(scored) == rows and len({row["bench_row_id"] for row in scored}) == rows
        assert set(point["rows_per_second"]) == {
            "score_process", "score_command", "ceiling_process", "ceiling_in_process",
            "ceiling_model_calls"}
        assert all(value > 0 for value in point["rows_per_second"].values())
        assert point["ceiling_over_score"] > 0 and point["score"]["peak_rss_mib"] > 100
        assert set(point["ceiling"]["answer"]["seconds"]) == {
            "imports", "load_model", "read_csv", "encode_examples", "model_calls"}
    phases = scoring["profile"]["phases"]
    assert scoring["profile"]["exit_code"] == 0
    assert phases["the whole command"] >= phases["Beam pipeline (the whole RunInference job)"] > 0
    assert "read the CSV (Arrow's reader, typed columns)" in phases
    assert scoring["profile"]["scale"] == 2 * TINY_SCALE
    assert "### Batch scoring" in markdown and "| 0.04x | 600 |" in markdown
    assert "Beam pipeline (the whole RunInference job)" in markdown


def test_one_weekly_loop_times_each_command(tmp_path: Path) -> None:
    results, markdown = scenario("weekly", tmp_path, "--rows", str(WEEK_ROWS), "--weeks", "2",
                                 "--train-steps", "200")
    weekly = results["weekly"]
    assert weekly["init"]["exit_code"] == 0
    first, full = weekly["weeks"]
    assert list(first["steps"]) == ["run", "score", "monitor"]
    assert list(full["steps"]) == LOOP
    for week in (first, full):
        assert week["total_seconds"] == round(sum(s["seconds"] for s in week["steps"].values()), 2)
        assert all(s["seconds"] > 0 and s["peak_rss_mib"] > 0 for s in week["steps"].values())
    assert first["steps"]["run"]["status"] == "pushed v1"
    assert full["steps"]["score"]["status"].startswith(f"{WEEK_ROWS} rows v1")
    assert full["steps"]["feedback"]["status"].startswith(f"{WEEK_ROWS} labels")
    assert full["steps"]["ingest"]["exit_code"] == 0
    assert "### One weekly loop" in markdown
    assert all(f"| `{command}` |" in markdown for command in LOOP)
