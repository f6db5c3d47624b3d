"""The fixed-costs scenario: the import child it starts and the split of a cold run's wall time."""

from __future__ import annotations

import ast
import importlib.util
import sys

from benchmarks import fixed_costs, report

COLD = {"seconds": 100.0, "components": {
    "CsvExampleGen": {"state": "COMPLETE", "seconds": 4.0},
    "Transform": {"state": "COMPLETE", "seconds": 30.5},
    "Trainer": {"state": "CACHED", "seconds": 0.3},
}}


def test_the_wall_time_outside_completed_components_is_the_rest() -> None:
    assert fixed_costs.outside_components(COLD) == {
        "components_seconds": 34.5, "outside_components_seconds": 65.5}


def test_the_import_child_imports_modules_that_exist() -> None:
    tree = ast.parse(fixed_costs.RUN_IMPORTS)
    modules = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names]
    assert "pipeline.graph.pipeline_graph" in modules
    assert all(importlib.util.find_spec(name) is not None for name in modules)


def test_measured_costs_reach_the_markdown() -> None:
    started: list[list[str]] = []

    def measured(name: str, command: list[str]) -> dict:
        started.append(command)
        return {"seconds": 12.25, "cpu_seconds": 9.5}

    fixed = fixed_costs.measure(measured, COLD)
    assert started == [[sys.executable, "-c", fixed_costs.RUN_IMPORTS]]
    text = report.markdown({"machine": {"date": "d", "cpus": 2, "load_average": [1.0]},
                            "options": {"train_steps": 10},
                            "end_to_end": {"rows": 10, "data": "x", "scale": 1,
                                           "ours": {"cold": COLD, "fixed_costs": fixed}}})
    assert "imports before the first component 12.2 s wall / 9.5 s CPU" in text
    assert "outside the components 65.5 s of 100.0 s wall" in text


def test_the_scenario_runs_by_default_and_its_flag_skips_it() -> None:
    from benchmarks.__main__ import parse_options

    assert parse_options([]).fixed_costs is True
    assert parse_options(["--no-fixed-costs"]).fixed_costs is False
