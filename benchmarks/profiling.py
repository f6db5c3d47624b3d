"""Where each component's time goes: `python -m pipeline run` with every component's executor under
its own cProfile, Beam in one process (in_memory) so its stages are profiled too.

    python -m benchmarks.profiling --profile-dir DIR -- <`pipeline run` arguments>

writes DIR/<component>.prof; `summarize` reads one back as its top own-time functions. The profiler
slows Python code, not TensorFlow's kernels: shares are what counts, not the profiled seconds.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import pstats
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.shared import MIN_SHOWN_SECONDS, table
from pipeline.config import PROJECT_ROOT

TOP_ENTRIES = 6
# Where a function's file lives, cut off its path: installed packages, the standard library.
LIBRARY_PREFIX = re.compile(r".*/(site-packages|lib/python3\.\d+)/")
PROFILE_SUFFIX = ".prof"
# What makes the profiled run one process: Beam's DirectRunner in the calling thread.
PROFILED_RUN_FLAGS = ("--beam-mode", "in_memory")


def profiled(run_executor: Callable[..., Any], folder: Path) -> Callable[..., Any]:
    """An executor operator's run_executor that profiles the component it runs."""

    @functools.wraps(run_executor)
    def wrapper(self: object, execution_info: Any, *args: object, **kwargs: object) -> Any:
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            return run_executor(self, execution_info, *args, **kwargs)
        finally:
            profiler.disable()
            node = execution_info.pipeline_node.node_info.id
            profiler.dump_stats(str(folder / f"{node}{PROFILE_SUFFIX}"))

    return wrapper


def install(folder: Path) -> None:
    """Wrap TFX's Python and Beam executor operators, through which every component runs."""
    from tfx.orchestration.portable import beam_executor_operator, python_executor_operator

    for operator in (python_executor_operator.PythonExecutorOperator,
                     beam_executor_operator.BeamExecutorOperator):
        operator.run_executor = profiled(operator.run_executor, folder)  # type: ignore[method-assign]


def function_name(key: tuple[str, int, str]) -> str:
    """'tfx_bsl/coders/csv_decoder.py:120(decode)' from a pstats key: paths from the package,
    the standard library's module or the project's root."""
    path, line, name = key
    if path == "~":
        return name
    short = LIBRARY_PREFIX.sub("", path).removeprefix(f"{PROJECT_ROOT}/")
    return f"{short}:{line}({name})"


def summarize(path: Path, top: int = TOP_ENTRIES) -> dict:
    """A profile's total seconds and its `top` functions by own time, with their shares."""
    stats = pstats.Stats(str(path))
    entries: dict = stats.stats  # type: ignore[attr-defined]
    total = float(stats.total_tt)  # type: ignore[attr-defined]
    largest = sorted(entries.items(), key=lambda item: -item[1][2])[:top]
    return {"profiled_seconds": round(total, 2), "top": [
        {"function": function_name(key), "own_seconds": round(own, 2),
         "share": round(own / total, 3) if total else None, "calls": calls}
        for key, (_, calls, own, _, _) in largest]}


def summarize_folder(folder: Path, top: int = TOP_ENTRIES) -> dict[str, dict]:
    """Every component's profile in a folder, by component id."""
    return {path.stem: summarize(path, top) for path in sorted(folder.glob(f"*{PROFILE_SUFFIX}"))}


def lines(results: dict) -> list[str]:
    """One row per component and top function: its own seconds and share of the component."""
    found = results.get("profile")
    if not found or not found.get("components"):
        return []
    rows: list[list[object]] = []
    shown = {node: summary for node, summary in found["components"].items()
             if summary["profiled_seconds"] >= MIN_SHOWN_SECONDS}
    for node, summary in sorted(shown.items(), key=lambda item: -item[1]["profiled_seconds"]):
        label = f"{node} ({summary['profiled_seconds']:.1f} s profiled, " \
                f"{found['mlmd_seconds'].get(node, '-')} s MLMD unprofiled)"
        for entry in summary["top"]:
            rows.append([label, entry["function"], entry["own_seconds"],
                         f"{100 * (entry['share'] or 0):.0f} %"])
            label = ""
    process = found["process"]
    return [f"### Where the time goes at {found['scale']:g}x ({found['rows']:,} rows): each "
            f"component's executor under cProfile, Beam in one process (in_memory); run "
            f"{process['seconds']:.0f} s wall, {process['cpu_seconds']:.0f} s CPU under the "
            "profiler, load " f"{process['load_before']}", "",
            *table(["component", "function (top own time)", "own s", "share"], rows), ""]


def main(argv: Sequence[str] | None = None) -> int:
    """Profile a `pipeline run` with the given arguments; its exit code is the run's."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profiling", description=__doc__)
    parser.add_argument("--profile-dir", type=Path, required=True)
    parser.add_argument("run_args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    from pipeline import environment

    environment.prepare()
    options.profile_dir.mkdir(parents=True, exist_ok=True)
    install(options.profile_dir)
    from pipeline.__main__ import exit_quietly
    from pipeline.__main__ import main as pipeline_main

    arguments = [a for a in options.run_args if a != "--"]
    exit_quietly(pipeline_main([*arguments, *PROFILED_RUN_FLAGS]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
