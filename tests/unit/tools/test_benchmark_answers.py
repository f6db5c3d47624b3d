"""The benchmark's answers to issue 29 on made-up numbers: the linear fits and the 1000x estimate,
the reference comparison, the profile summary, per-component memory, and their report sections."""

from __future__ import annotations

import cProfile
import json
from pathlib import Path

import pytest

from benchmarks import profiling, reference, report, scaling
from benchmarks.__main__ import parse_options
from benchmarks.suite import peak_between, recorded_approximations
from pipeline.config.project import Tolerance
from tests.support.bench import PNG_MAGIC

TOLERANCE = Tolerance(abs=1e-4, rel=1e-4)


def point(scale: float, fixed: float, per_row: float, tree_mib: float) -> dict:
    """A cold run at `scale` x 1000 rows: Transform costs fixed + per_row * rows, Trainer 30 s."""
    rows = int(scale * 1000)
    transform = fixed + per_row * rows
    return {"scale": scale, "rows": rows, "seconds": transform + 40.0, "cpu_seconds": 50.0,
            "components": {"Transform": transform, "Trainer": 30.0, "ImportSchemaGen": 0.2},
            "component_peak_tree_rss_mib": {"Transform": tree_mib, "Trainer": 900.0},
            "peak_rss_mib": 800.0 + rows / 1000, "peak_tree_rss_mib": tree_mib,
            "train_steps_per_second": 30.0, "load_before": 1.0}


POINTS = [point(s, 5.0, 0.001, 1000.0 + 2 * s) for s in (1, 10, 100)]


def test_linear_fit_recovers_fixed_and_marginal_cost() -> None:
    fits = scaling.linear_fits(scaling.second_series(POINTS))
    assert fits["Transform"] == {"fixed": pytest.approx(5.0), "per_million_rows": pytest.approx(1000.0)}
    assert fits["Trainer"]["per_million_rows"] == pytest.approx(0.0, abs=1e-9)
    assert fits[report.TOTAL]["fixed"] == pytest.approx(45.0)
    assert scaling.linear_fit([(1000, 3.0)]) is None


def test_the_estimate_extrapolates_each_fit_and_says_it_is_one() -> None:
    found = scaling.estimate(POINTS, rows=15_000_000)
    assert found is not None
    assert found["label"].startswith("ESTIMATE from the linear fits over 3 measured sizes")
    assert found["components_seconds"]["Transform"] == pytest.approx(15_005.0)
    assert found["total_seconds"] == pytest.approx(15_045.0)
    assert found["peak_mib"][scaling.LARGEST_PROCESS] == pytest.approx(800.0 + 15_000)
    assert found["peak_mib"][scaling.PROCESS_TREE] == pytest.approx(1000.0 + 2 * 15_000)
    assert found["fits"] is False  # 31,000 MiB > 24 GiB
    assert "fastest-growing while Transform runs: 2,000 MiB per 1M rows" in found["memory_growth"]
    assert scaling.estimate(POINTS[:1]) is None


def test_a_negative_slope_estimates_the_largest_measured_value() -> None:
    pairs = [(1000, 31.0), (10000, 30.0)]
    fit = scaling.linear_fit(pairs)
    assert fit is not None and fit["per_million_rows"] < 0
    assert scaling.extrapolate(fit, pairs, 15_000_000) == 31.0


def test_rows_per_second_for_every_component() -> None:
    speeds = scaling.rows_per_second({"rows": 1000, "components": {"A": 2.0, "B": 0.0}})
    assert speeds == {"A": 500.0}


def test_scaling_section_shows_fits_the_estimate_and_memory(tmp_path: Path) -> None:
    results = {"machine": {"date": "2026-01-01", "cpus": 2, "load_average": [1.0, 1.0, 1.0]},
               "options": {"train_steps": 10}, "scaling": POINTS}
    paths = report.write(results, tmp_path)
    text = paths[report.MARKDOWN_NAME].read_text()
    assert "| Transform | 5.0 | 1,000 | 15,005 |" in text
    assert "**ESTIMATE from the linear fits over 3 measured sizes, not a measurement**" in text
    assert "fits in 24 GiB: NO" in text
    assert "| 100x | 952.4 | 3,333 | 1,200 | 900.0 |" in text  # rows/s, then MiB per component
    written = json.loads(paths[report.JSON_NAME].read_text())
    assert written["estimate_1000x"]["rows"] == 15_000_000
    assert written["linear_fits"]["seconds"]["Transform"]["per_million_rows"] == pytest.approx(1000)
    assert paths[report.PLOT_NAME].read_bytes().startswith(PNG_MAGIC)


def outcome(auc: float, blessed: bool = True, version: str | None = "1") -> dict:
    """A cold run's outcome as the reference records it."""
    return {"scale": 1.0, "rows": 15002, "train_steps": 1000, "pipeline_args": [],
            "metrics": {"auc": auc, "example_count": 3000.0}, "blessed": blessed,
            "pushed_version": version}


def test_reference_comparison_holds_metrics_to_the_tolerance() -> None:
    assert reference.compare(outcome(0.9), outcome(0.90005), TOLERANCE)["ok"] is True
    compared = reference.compare(outcome(0.9), outcome(0.901), TOLERANCE)
    assert compared["ok"] is False
    assert [r["what"] for r in compared["rows"] if not r["same"]] == ["metric auc"]
    assert reference.compare(outcome(0.9), outcome(0.9, blessed=False, version=None),
                             TOLERANCE)["ok"] is False
    missing = outcome(0.9)
    del missing["metrics"]["auc"]
    assert reference.compare(outcome(0.9), missing, TOLERANCE)["ok"] is False


def test_recorded_reference_is_read_back_per_scale_and_steps(tmp_path: Path) -> None:
    path = reference.record(outcome(0.9), tmp_path)
    assert path.name == "x1-steps1000.json"
    assert reference.check(outcome(0.9), tmp_path, TOLERANCE)["ok"] is True
    other = {**outcome(0.9), "train_steps": 10}
    unmatched = reference.check(other, tmp_path, TOLERANCE)
    assert unmatched["ok"] is None and "no reference for 1x, 10 steps" in unmatched["note"]
    assert reference.check(None, tmp_path, TOLERANCE)["ok"] is None


def test_outcome_reads_the_probe_metrics_blessing_and_version() -> None:
    results = {"options": {"train_steps": 1000, "pipeline_args": []},
               "end_to_end": {"scale": 1.0, "rows": 15002, "ours": {"cold": {
                   "blessed": True, "pushed_version": "1"}}},
               "models": {"evaluator": {"ours": {"example_count": 3000.0, "auc": 0.9}}}}
    assert reference.outcome(results) == outcome(0.9)
    del results["models"]
    assert reference.outcome(results) is None


def test_differences_fail_the_benchmark_and_show_in_the_table() -> None:
    compared = reference.compare(outcome(0.95), outcome(0.9), TOLERANCE)  # measured, reference
    results = {"identical_results": {
        "reference": {"reference": "x1-steps1000.json", **compared},
        "unchanged_input": reference.unchanged_input_check([1], [1, 2], "2")}}
    failures = reference.failures(results)
    assert failures[0] == "metric auc: reference 0.9, measured 0.95"
    assert "pushed: served versions [1] -> [1, 2], re-run pushed 2" in failures[1]
    text = "\n".join(reference.lines(results))
    assert "### Identical results: DIFFERENT" in text
    assert "| metric auc | 0.9000 | 0.9500 | DIFFERENT |" in text
    assert "PUSHED AGAIN" in text
    same = {"identical_results": {"reference": reference.compare(outcome(0.9), outcome(0.9),
                                                                 TOLERANCE),
                                  "unchanged_input": reference.unchanged_input_check([1], [1], None)}}
    assert reference.failures(same) == []
    assert "nothing new" in "\n".join(reference.lines(same))


def test_flags_for_the_reference_and_the_profile() -> None:
    options = parse_options(["--record-reference", "--no-assert", "--no-profile",
                             "--data-dir", "/tmp/made"])
    assert options.record_reference and not options.assert_results and not options.profile
    assert options.data_dir == Path("/tmp/made")
    defaults = parse_options([])
    assert defaults.scales == (1.0, 10.0, 100.0) and defaults.assert_results and defaults.profile


def busy(n: int) -> int:
    """Something for the profiler to see."""
    return sum(i * i for i in range(n))


def test_profile_summary_names_the_top_functions_with_shares(tmp_path: Path) -> None:
    profiler = cProfile.Profile()
    profiler.runcall(busy, 200_000)
    profiler.dump_stats(str(tmp_path / "Transform.prof"))
    summaries = profiling.summarize_folder(tmp_path, top=3)
    summary = summaries["Transform"]
    assert summary["profiled_seconds"] > 0 and len(summary["top"]) <= 3
    assert any("(<genexpr>)" in entry["function"] for entry in summary["top"])
    assert sum(entry["share"] for entry in summary["top"]) <= 1.0 + 1e-6
    bookkeeping = {"profiled_seconds": 0.2, "top": summary["top"]}  # under a second: left out
    summaries = {"Transform": {**summary, "profiled_seconds": 150.0}, "DataGate": bookkeeping}
    results = {"profile": {"scale": 100.0, "rows": 1_500_000, "components": summaries,
                           "mlmd_seconds": {"Transform": 200.0},
                           "process": {"seconds": 900.0, "cpu_seconds": 850.0, "load_before": 2.0}}}
    text = "\n".join(profiling.lines(results))
    assert "### Where the time goes at 100x (1,500,000 rows)" in text
    assert "| Transform (150.0 s profiled, 200.0 s MLMD unprofiled) |" in text
    assert "DataGate" not in text
    assert profiling.lines({}) == []


def test_profiled_wrapper_dumps_one_profile_per_component(tmp_path: Path) -> None:
    class Info:
        class pipeline_node:  # noqa: N801 - TFX's attribute names
            class node_info:  # noqa: N801
                id = "StatisticsGen"

    wrapped = profiling.profiled(lambda self, info: busy(1000), tmp_path)
    assert wrapped(object(), Info()) == busy(1000)
    assert (tmp_path / "StatisticsGen.prof").is_file()


def test_component_memory_and_recorded_approximations() -> None:
    samples = [(10.0, 500.0), (11.0, 900.0), (12.0, 700.0), (20.0, 1500.0)]
    assert peak_between(samples, 10.5, 12.0) == 900.0
    assert peak_between(samples, 13.0, 14.0) is None
    config = json.dumps({"declaration": {"approximations": {"statistics_sample_rate": 0.1}}})
    assert recorded_approximations(config) == {"statistics_sample_rate": 0.1}
    assert recorded_approximations(json.dumps({"declaration": {}})) == {}
    assert recorded_approximations(None) == {}
    results = {"scaling": [{"approximations": {"statistics_sample_rate": 0.1}}, {"approximations": {}}]}
    assert report.declared_approximations(results) == "statistics_sample_rate: 0.1"
    assert report.declared_approximations({}) == report.EXACT


def test_profiled_functions_are_named_from_their_package_or_the_project() -> None:
    from pipeline.config import PROJECT_ROOT

    assert profiling.function_name(
        ("/x/.venv/lib/python3.10/site-packages/tfx_bsl/coders/example_coder.py", 103, "DecodeBatch")
    ) == "tfx_bsl/coders/example_coder.py:103(DecodeBatch)"
    assert profiling.function_name(
        ("/root/.pyenv/versions/3.10.13/lib/python3.10/inspect.py", 2375, "f")) == "inspect.py:2375(f)"
    assert profiling.function_name(
        (f"{PROJECT_ROOT}/pipeline/graph/baseline.py", 34, "read_split")
    ) == "pipeline/graph/baseline.py:34(read_split)"
    assert profiling.function_name(("~", 0, "<built-in method FromString>")) == (
        "<built-in method FromString>")
