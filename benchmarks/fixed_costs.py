"""Scenario: the cold run's fixed costs, the seconds no row pays for.

Two numbers: what the imports a run needs before its first component cost in a fresh process
(measured as a child, CPU as well as wall, since other jobs share the machine), and how much of the
cold run's wall time lies outside its components (process start, imports, pre-flight and
consistency checks, the end-of-run summary; the MLflow mirror syncs in a detached process since
issue 29, which the measured run does not wait for).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

# What `python -m pipeline run` imports before LocalDagRunner starts the first component.
RUN_IMPORTS = (
    "from pipeline import environment; environment.prepare(); environment.skip_package_init(); "
    "import pipeline.run.local_runner, pipeline.graph.pipeline_graph, "
    "tfx.orchestration.local.local_dag_runner"
)


def outside_components(cold: dict) -> dict[str, float]:
    """The cold run's wall seconds split into its components' (from MLMD) and the rest."""
    inside = sum(c["seconds"] for c in cold.get("components", {}).values()
                 if c.get("state") == "COMPLETE")
    return {"components_seconds": round(inside, 2),
            "outside_components_seconds": round(cold["seconds"] - inside, 2)}


def measure(measured: Callable[[str, list[str]], dict], cold: dict) -> dict:
    """The fixed costs of a cold run: the import child's measurement and the split of `cold`."""
    imports = measured("imports", [sys.executable, "-c", RUN_IMPORTS])
    return {"imports": imports, **outside_components(cold)}


def markdown_lines(fixed: dict) -> list[str]:
    """One table: where the seconds of a cold run go outside its components."""
    if not fixed:
        return []
    imports = fixed["imports"]
    return [
        "Fixed costs of the cold run: imports before the first component "
        f"{imports['seconds']:.1f} s wall / {imports['cpu_seconds']:.1f} s CPU in a fresh process; "
        f"outside the components {fixed['outside_components_seconds']:.1f} s of "
        f"{fixed['outside_components_seconds'] + fixed['components_seconds']:.1f} s wall.", ""]
