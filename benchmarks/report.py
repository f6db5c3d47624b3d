"""Render the suite's results: JSON as measured, a markdown table and a PNG plot."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import fixed_costs, profiling, reference, scaling, scoring, weekly, windows
from benchmarks.shared import MIN_SHOWN_SECONDS, TOTAL
from benchmarks.shared import number as _number
from benchmarks.shared import table as _table

JSON_NAME = "results.json"
MARKDOWN_NAME = "results.md"
PLOT_NAME = "results.png"
EXACT = "none: exact"


def fit_exponents(points: list[dict]) -> dict[str, float]:
    """k in seconds ~ rows^k per component (least squares in log-log), with 2+ sizes measured."""
    import numpy as np

    series: dict[str, list[tuple[float, float]]] = {}
    for point in points:
        for node, seconds in {**point["components"], TOTAL: point["seconds"]}.items():
            if seconds and seconds > 0:
                series.setdefault(node, []).append((point["rows"], seconds))
    exponents = {}
    for node, pairs in series.items():
        if len({rows for rows, _ in pairs}) < 2:
            continue
        logs = np.log([[rows, seconds] for rows, seconds in pairs])
        exponents[node] = round(float(np.polyfit(logs[:, 0], logs[:, 1], 1)[0]), 3)
    return exponents


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator when both are known."""
    return numerator / denominator if numerator and denominator else None


def summary(results: dict) -> dict[str, float | None]:
    """The headline numbers the issue's targets are stated in."""
    e2e = results.get("end_to_end", {})
    ours = e2e.get("ours", {})
    cold = ours.get("cold", {}).get("seconds")
    theirs = e2e.get("tfx_example", {}).get("cold", {}).get("seconds")
    exponents = fit_exponents(results.get("scaling", []))
    return {
        "ours_over_tfx_cold": _ratio(cold, theirs),
        "warm_over_cold": _ratio(ours.get("warm", {}).get("seconds"), cold),
        "forced_warm_over_cold": _ratio(ours.get("warm_forced", {}).get("seconds"), cold),
        "model_edit_over_cold": _ratio(ours.get("model_edit", {}).get("seconds"), cold),
        "total_exponent": exponents.get(TOTAL),
    }


def _reran(run: dict) -> str:
    """The components a run executed (not from cache), for a table row's label."""
    ran = [node for node, c in run.get("components", {}).items() if c.get("state") == "COMPLETE"]
    return "re-ran " + ", ".join(ran) if ran else "not run"


def _end_to_end_lines(results: dict) -> list[str]:
    """Ours against the TFX example on the same data: time, memory, quality."""
    e2e = results.get("end_to_end")
    if not e2e:
        return []
    ours, theirs = e2e["ours"], e2e.get("tfx_example", {})
    cold, warm, tfx = ours.get("cold", {}), ours.get("warm", {}), theirs.get("cold", {})
    forced = ours.get("warm_forced", {})
    edit = ours.get("model_edit", {})
    models = results.get("models", {})
    evaluator, holdout = models.get("evaluator", {}), models.get("common_holdout", {})
    ours_eval, tfx_eval = evaluator.get("ours", {}), evaluator.get("tfx_example", {})
    rows = [
        ["cold wall time (s)", cold.get("seconds"), tfx.get("seconds"),
         _ratio(cold.get("seconds"), tfx.get("seconds"))],
        ["warm re-run, unchanged inputs (s): last run reused", warm.get("seconds"), None,
         _ratio(warm.get("seconds"), cold.get("seconds"))],
        ["warm re-run --force (s): every component via TFX's cache", forced.get("seconds"), None,
         _ratio(forced.get("seconds"), cold.get("seconds"))],
        [f"re-run after a model code edit (s): {_reran(edit)}", edit.get("seconds"), None,
         _ratio(edit.get("seconds"), cold.get("seconds"))],
        ["cold CPU time (s)", cold.get("cpu_seconds"), tfx.get("cpu_seconds"),
         _ratio(cold.get("cpu_seconds"), tfx.get("cpu_seconds"))],
        ["peak RSS, largest process (MiB)", cold.get("peak_rss_mib"), tfx.get("peak_rss_mib"),
         None],
        ["peak RSS, process tree (MiB)", cold.get("peak_tree_rss_mib"),
         tfx.get("peak_tree_rss_mib"), None],
        ["Evaluator AUC", ours_eval.get("auc"), tfx_eval.get("auc"), None],
        ["Evaluator binary accuracy", ours_eval.get("binary_accuracy"),
         tfx_eval.get("binary_accuracy"), None],
        [f"AUC on the common holdout ({holdout.get('rows', 0)} rows)",
         holdout.get("ours", {}).get("auc"), holdout.get("tfx_example", {}).get("auc"), None],
        ["binary accuracy on the common holdout", holdout.get("ours", {}).get("binary_accuracy"),
         holdout.get("tfx_example", {}).get("binary_accuracy"), None],
    ]
    steps = results["options"]["train_steps"]
    return [f"### End to end: {e2e['rows']:,} rows ({e2e['data']}), {steps} train steps", "",
            *_table(["", "ours", "TFX example", "ours / TFX (warm: / our cold)"], rows, 3), "",
            *fixed_costs.markdown_lines(ours.get("fixed_costs", {})),
            *_component_lines(cold, forced, tfx), ""]


def _component_lines(cold: dict, warm: dict, tfx: dict) -> list[str]:
    """Per-component seconds from each run's MLMD, with the warm run's state (CACHED or not)."""
    nodes = list(cold.get("components", {}))
    nodes += [n for n in tfx.get("components", {}) if n not in nodes]
    rows = []
    for node in nodes:
        ours, again = cold.get("components", {}).get(node), warm.get("components", {}).get(node)
        theirs = tfx.get("components", {}).get(node)
        rows.append([node, ours and ours["seconds"],
                     again and f"{again['seconds']:.1f} ({again['state'].lower()})",
                     theirs and theirs["seconds"]])
    return _table(["component (MLMD seconds)", "ours cold", "ours --force re-run",
                   "TFX example cold"], rows)


def _scaling_lines(results: dict) -> list[str]:
    """Per-size times and throughputs, then the fitted exponents."""
    points = results.get("scaling", [])
    if not points:
        return []
    nodes = scaling.shown_nodes(points)
    header = ["scale", "rows", "wall s", "CPU s", *[f"{n} s" for n in nodes], "train steps/s",
              "peak RSS MiB (largest process)", "peak MiB (tree)", "load"]
    rows = [
        [f"{p['scale']:g}x", p["rows"], p["seconds"], p["cpu_seconds"],
         *[p["components"].get(n) for n in nodes], p["train_steps_per_second"],
         p["peak_rss_mib"], p["peak_tree_rss_mib"], p["load_before"]]
        for p in points
    ]
    speeds = [[f"{p['scale']:g}x", *[scaling.rows_per_second(p).get(n) for n in nodes],
               *[(p.get("component_peak_tree_rss_mib") or {}).get(n) for n in nodes]]
              for p in points]
    exponents = fit_exponents(points)
    lines = ["### Scaling (cold runs)", "", *_table(header, rows), "",
             "Rows per second and peak memory (process tree, MiB) while each component ran:", "",
             *_table(["scale", *[f"{n} rows/s" for n in nodes], *[f"{n} MiB" for n in nodes]],
                     speeds), "", *scaling.fit_lines(points)]
    if exponents:
        lines += ["Fitted exponent k in seconds ~ rows^k (1 = linear, fixed costs pull it down):",
                  "", *_table(["component", "k"], [[n, k] for n, k in exponents.items()
                                                   if n in nodes or n == TOTAL], 2), ""]
    return lines


def _serving_lines(results: dict) -> list[str]:
    """Latency per signature and batch size of the served model, loaded in process."""
    serving = results.get("models", {}).get("serving", {})
    if not serving.get("signatures"):
        return []
    rows = [
        [name, t["batch"], t["p50_ms"], t["p99_ms"], t["rows_per_second"], t["calls"]]
        for name, timings in serving["signatures"].items() for t in timings
    ]
    return [f"### Serving: {serving['model_source']} model, tf.saved_model.load in process", "",
            *_table(["signature", "batch", "p50 ms", "p99 ms", "rows/s", "calls"], rows, 2), ""]


def _airflow_lines(results: dict) -> list[str]:
    """The Airflow DAG run against the local run, and where each task's seconds went."""
    scenario = results.get("airflow")
    if not scenario:
        return []
    run, local = scenario["airflow"], scenario.get("local") or {}
    rows = [[task, t.get("scheduling_gap"), t["queued_delay"], t["executor_wait"],
             t["process_start_and_parse"], t["duration"], t["component"]]
            for task, t in run["tasks"].items()]
    return [
        f"### Airflow (LocalExecutor, PostgreSQL): DAG run {run['state']} in "
        f"{_number(run['dag_run_seconds'])} s, local run {_number(local.get('seconds'))} s, "
        f"ratio {_number(scenario['dag_run_over_local'], 2)}; CPU {_number(run.get('cpu_seconds'))}"
        f" s against {_number(local.get('cpu_seconds'))} s; peak memory "
        f"{_number(run.get('peak_tree_rss_mib'))} MiB (preload {run['preload']}, load "
        f"{run['load_before']})", "",
        *_table(["task", "upstream done -> queued s", "queued -> running s",
                 "of it: wait for a worker", "of it: process start, DAG parse, imports",
                 "running s", "component (MLMD) s"], rows),
        "", "Peak memory is the summed RSS of Airflow's processes; tasks forked from the "
        "scheduler share its imported libraries, which RSS counts once per process.", ""]


# Issue 29's targets: (what, how it is read from the results, the limit; smaller is better).
TARGETS = (
    ("100x data (1.5 M rows) cold, s", "seconds_at_100x", 360.0),
    ("re-run after a model code edit / cold run", "model_edit_over_cold", 0.35),
    ("cold run, ours / TFX example", "ours_over_tfx_cold", 0.33),
)


def target_values(results: dict) -> dict[str, float | None]:
    """Each target's measured value (None when its scenario did not run)."""
    at_100x = [p["seconds"] for p in results.get("scaling", []) if p["scale"] == 100]
    return {**summary(results), "seconds_at_100x": at_100x[0] if at_100x else None}


def _target_lines(results: dict) -> list[str]:
    """One row per target: the limit, the measured value, met or not (or not measured), and the
    measured breakdown that explains the value."""
    values = target_values(results)
    rows = []
    for label, key, limit in TARGETS:
        value = values.get(key)
        verdict = "not measured" if value is None else ("met" if value <= limit else "NOT met")
        rows.append([label, limit, value, verdict, _where_the_time_goes(key, results)])
    header = ["target", "limit", "measured", "", "where the time goes"]
    return [f"### Targets (issue 29); declared approximations: {declared_approximations(results)}",
            "", *_table(header, rows, 2), ""]


def declared_approximations(results: dict) -> str:
    """The approximations the measured runs recorded in their run context, or 'none: exact'."""
    runs = [p.get("approximations") for p in results.get("scaling", [])]
    runs.append(results.get("end_to_end", {}).get("ours", {}).get("cold", {}).get("approximations"))
    shown = {json.dumps(declared, sort_keys=True) for declared in runs if declared}
    if not shown:
        return EXACT
    return "; ".join(", ".join(f"{k}: {v}" for k, v in json.loads(text).items())
                     for text in sorted(shown))


def _where_the_time_goes(key: str, results: dict) -> str:
    """The measured seconds behind a target's value ('-' when its scenario did not run)."""
    ours = results.get("end_to_end", {}).get("ours", {})
    if key == "ours_over_tfx_cold":
        return _run_breakdown(ours.get("cold"))
    if key == "model_edit_over_cold":
        return _run_breakdown(ours.get("model_edit"))
    if key == "seconds_at_100x":
        at_100x = [p for p in results.get("scaling", []) if p["scale"] == 100]
        if not at_100x:
            return "-"
        point = at_100x[0]
        components = point["components"]
        return (_breakdown(components, point["seconds"] - sum(components.values()))
                + f"; peak {_number(point['peak_tree_rss_mib'])} MiB (process tree)"
                + _profiled_largest(results))
    return "-"


def _profiled_largest(results: dict) -> str:
    """'; profiled: X's top function N %' from the profile at 100x, when it ran."""
    found = results.get("profile") or {}
    if found.get("scale") != 100 or not found.get("components"):
        return ""
    node, summary = max(found["components"].items(), key=lambda item: item[1]["profiled_seconds"])
    top = summary["top"][0] if summary["top"] else None
    return f"; profiled: {node}'s top function {top['function']} " \
           f"{100 * (top['share'] or 0):.0f} % of it" if top else ""


def _run_breakdown(run: dict | None) -> str:
    """A run's seconds in the components it executed (not cached) and outside them, split as
    the fixed-costs line splits the cold run."""
    if not run or not run.get("components"):
        return "-"
    executed = {node: c["seconds"] for node, c in run["components"].items()
                if c.get("state") == "COMPLETE"}
    return _breakdown(executed, fixed_costs.outside_components(run)["outside_components_seconds"])


def _breakdown(components: dict[str, float], outside: float) -> str:
    """'components X s (the three largest), outside them Y s': the seconds that set a total."""
    largest = sorted(components.items(), key=lambda item: -item[1])[:3]
    named = ", ".join(f"{node} {seconds:.1f}" for node, seconds in largest if seconds >= 1.0)
    listed = f" ({named})" if named else ""
    return f"components {sum(components.values()):.1f} s{listed}, outside them {outside:.1f} s"


def markdown(results: dict) -> str:
    """The tables docs/performance.md shows."""
    machine = results["machine"]
    head = summary(results)
    lines = [
        f"Measured {machine['date']} on {machine['cpus']} CPUs, load average "
        f"{machine['load_average'][0]} at the start (other jobs share the machine).", "",
        "Headline: ours / TFX example cold = " + _number(head["ours_over_tfx_cold"], 2)
        + "; warm / cold = " + _number(head["warm_over_cold"], 3)
        + " (--force through TFX's cache: " + _number(head["forced_warm_over_cold"], 2) + ")"
        + "; total wall-time exponent k = " + _number(head["total_exponent"], 2) + ".", "",
        *_target_lines(results), *reference.lines(results),
        *_end_to_end_lines(results), *_scaling_lines(results), *profiling.lines(results),
        *_serving_lines(results),
        *_airflow_lines(results),
        *windows.lines(results), *scoring.lines(results), *weekly.lines(results),
    ]
    return "\n".join(lines).rstrip() + "\n"


def plot(results: dict, path: Path) -> None:
    """Log-log seconds per component against rows, and ours vs the TFX example per component."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ((times, memory), (compare, scored)) = plt.subplots(2, 2, figsize=(15, 10))
    _plot_scaling(times, results.get("scaling", []))
    _plot_memory(memory, results.get("scaling", []))
    _plot_comparison(compare, results.get("end_to_end", {}))
    _plot_scoring(scored, results.get("scoring", {}).get("points", []))
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _plot_scaling(axes, points: list[dict]) -> None:
    """One line per component (and the total) over the measured sizes, k in the legend."""
    exponents = fit_exponents(points)
    series: dict[str, list[tuple[int, float]]] = {}
    for point in points:
        for node, seconds in {**point["components"], TOTAL: point["seconds"]}.items():
            series.setdefault(node, []).append((point["rows"], seconds))
    for node, pairs in series.items():
        if max(seconds for _, seconds in pairs) < MIN_SHOWN_SECONDS:
            continue
        label = f"{node} (k={exponents[node]:.2f})" if node in exponents else node
        rows, seconds = zip(*sorted(pairs), strict=True)
        style = "k--o" if node == TOTAL else "-o"
        axes.plot(rows, seconds, style, label=label, markersize=4)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("rows")
    axes.set_ylabel("seconds (cold run, MLMD)")
    axes.set_title("Wall time per component against rows")
    axes.grid(True, which="both", alpha=0.3)
    if series:
        axes.legend(fontsize=7)


def _plot_memory(axes, points: list[dict]) -> None:
    """Peak memory (largest process, process tree) against rows, the 1000x estimate hollow."""
    found = scaling.estimate(points)
    for name, pairs in scaling.memory_series(points).items():
        if not pairs:
            continue
        rows, mib = zip(*sorted(pairs), strict=True)
        line = axes.plot(rows, mib, "-o", label=name, markersize=4)[0]
        if found and name in found["peak_mib"]:
            axes.plot([rows[-1], found["rows"]], [mib[-1], found["peak_mib"][name]], ":",
                      color=line.get_color())
            axes.plot(found["rows"], found["peak_mib"][name], "o", mfc="none",
                      color=line.get_color(), label=f"{name}: ESTIMATE (linear fit)")
    axes.axhline(scaling.MEMORY_BUDGET_MIB, color="grey", linestyle="--", linewidth=1,
                 label="24 GiB")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("rows")
    axes.set_ylabel("peak MiB (cold run)")
    axes.set_title("Peak memory against rows")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7)


def _plot_comparison(axes, e2e: dict) -> None:
    """Side-by-side bars of per-component seconds, ours against the TFX example."""
    import numpy as np

    ours = e2e.get("ours", {}).get("cold", {}).get("components", {})
    theirs = e2e.get("tfx_example", {}).get("cold", {}).get("components", {})
    nodes = list(ours) + [n for n in theirs if n not in ours]
    positions = np.arange(len(nodes))
    axes.barh(positions - 0.2, [ours.get(n, {}).get("seconds", 0) for n in nodes], 0.4,
              label=f"ours ({e2e.get('ours', {}).get('cold', {}).get('seconds', 0):.0f} s wall)")
    if theirs:
        axes.barh(positions + 0.2, [theirs.get(n, {}).get("seconds", 0) for n in nodes], 0.4,
                  label=f"TFX example ({e2e['tfx_example']['cold']['seconds']:.0f} s wall)")
    axes.set_yticks(positions, nodes, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("seconds (cold run, MLMD)")
    axes.set_title(f"Per component on {e2e.get('rows', 0):,} rows")
    if nodes:
        axes.legend(fontsize=8)


def _plot_scoring(axes, points: list[dict]) -> None:
    """Rows per second of `score` and of its in-process ceiling against rows."""
    series = {"score (process)": "score_process", "ceiling (process)": "ceiling_process",
              "ceiling (after load)": "ceiling_in_process"}
    for label, key in series.items():
        pairs = sorted((p["rows"], p["rows_per_second"][key]) for p in points)
        if pairs:
            rows, speeds = zip(*pairs, strict=True)
            axes.plot(rows, speeds, "-o", label=label, markersize=4)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("rows scored")
    axes.set_ylabel("rows per second")
    axes.set_title("Batch scoring: `score` against the SavedModel in process")
    axes.grid(True, which="both", alpha=0.3)
    if points:
        axes.legend(fontsize=8)


def write(results: dict, output_dir: Path) -> dict[str, Path]:
    """results.json, results.md and results.png in output_dir."""
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: output_dir / name for name in (JSON_NAME, MARKDOWN_NAME, PLOT_NAME)}
    points = results.get("scaling", [])
    full = {**results, "summary": summary(results), "exponents": fit_exponents(points),
            "linear_fits": {"seconds": scaling.linear_fits(scaling.second_series(points)),
                            "peak_mib": scaling.linear_fits(scaling.memory_series(points))},
            "estimate_1000x": scaling.estimate(points)}
    paths[JSON_NAME].write_text(json.dumps(full, indent=2) + "\n")
    paths[MARKDOWN_NAME].write_text(markdown(results))
    plot(results, paths[PLOT_NAME])
    return paths
