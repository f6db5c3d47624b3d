"""The scaling curve's arithmetic: seconds = a + b * rows per component (fixed and marginal cost),
peak memory the same way, and the ESTIMATE at 1000x those fits give (never a measurement)."""

from __future__ import annotations

from benchmarks.shared import MIN_SHOWN_SECONDS, TOTAL, number, table

MILLION = 1_000_000
# 1000x the bundled 15,002 rows: the size issue 29 asks an estimate for.
ESTIMATE_ROWS = 15_000_000
MEMORY_BUDGET_MIB = 24 * 1024
LARGEST_PROCESS = "largest process"
PROCESS_TREE = "process tree"


def series(points: list[dict], key: str) -> dict[str, list[tuple[int, float]]]:
    """(rows, value) pairs per name of points[i][key] (a mapping), sizes without a value skipped."""
    found: dict[str, list[tuple[int, float]]] = {}
    for point in points:
        for name, value in (point.get(key) or {}).items():
            if value is not None:
                found.setdefault(name, []).append((point["rows"], float(value)))
    return found


def second_series(points: list[dict]) -> dict[str, list[tuple[int, float]]]:
    """Seconds per component and of the whole run (wall) against rows."""
    found = series(points, "components")
    found[TOTAL] = [(p["rows"], float(p["seconds"])) for p in points]
    return found


def memory_series(points: list[dict]) -> dict[str, list[tuple[int, float]]]:
    """Peak MiB of the largest single process and of the whole process tree against rows."""
    keys = {LARGEST_PROCESS: "peak_rss_mib", PROCESS_TREE: "peak_tree_rss_mib"}
    return {name: [(p["rows"], float(p[key])) for p in points if p.get(key) is not None]
            for name, key in keys.items()}


def linear_fit(pairs: list[tuple[int, float]]) -> dict[str, float] | None:
    """value = fixed + per_million * rows / 1e6 by least squares; None under two distinct sizes."""
    import numpy as np

    if len({rows for rows, _ in pairs}) < 2:
        return None
    rows, values = zip(*pairs, strict=True)
    slope, intercept = np.polyfit(np.array(rows, dtype=float) / MILLION, values, 1)
    return {"fixed": round(float(intercept), 2), "per_million_rows": round(float(slope), 2)}


def linear_fits(named: dict[str, list[tuple[int, float]]]) -> dict[str, dict[str, float]]:
    """A linear fit per name, for the names measured at two sizes or more."""
    fits = {name: linear_fit(pairs) for name, pairs in named.items()}
    return {name: fit for name, fit in fits.items() if fit is not None}


def extrapolate(fit: dict[str, float], pairs: list[tuple[int, float]], rows: int) -> float:
    """The fit's value at `rows`; a negative slope (noise on a fixed cost) gives the largest
    value measured instead, never less."""
    if fit["per_million_rows"] < 0:
        return max(value for _, value in pairs)
    return round(fit["fixed"] + fit["per_million_rows"] * rows / MILLION, 1)


def estimate(points: list[dict], rows: int = ESTIMATE_ROWS) -> dict | None:
    """Seconds per component and in total, and peak memory, at `rows` from the linear fits of the
    measured sizes: an ESTIMATE (None under two sizes)."""
    seconds, memory = second_series(points), memory_series(points)
    time_fits, memory_fits = linear_fits(seconds), linear_fits(memory)
    if TOTAL not in time_fits:
        return None
    at = {name: extrapolate(fit, seconds[name], rows) for name, fit in time_fits.items()}
    total = at.pop(TOTAL)
    peaks = {name: extrapolate(fit, memory[name], rows) for name, fit in memory_fits.items()}
    tree = peaks.get(PROCESS_TREE)
    return {
        "label": f"ESTIMATE from the linear fits over {len(points)} measured sizes, not a measurement",
        "rows": rows,
        "measured_rows": sorted(p["rows"] for p in points),
        "components_seconds": at,
        "total_seconds": total,
        "components_sum_seconds": round(sum(at.values()), 1),
        "peak_mib": peaks,
        "fits_in_mib": MEMORY_BUDGET_MIB,
        "fits": None if tree is None else tree <= MEMORY_BUDGET_MIB,
        "memory_growth": memory_growth(points, memory_fits),
    }


def memory_growth(points: list[dict], memory_fits: dict[str, dict[str, float]]) -> str:
    """Which memory grows with rows and how fast, from the fits (the component is the one whose
    process-tree peak while it ran grows fastest)."""
    parts = [f"{name} peak {fit['fixed']:,.0f} MiB + {fit['per_million_rows']:,.0f} MiB per 1M rows"
             for name, fit in memory_fits.items()]
    by_component = linear_fits(series(points, "component_peak_tree_rss_mib"))
    if by_component:
        node, fit = max(by_component.items(), key=lambda item: item[1]["per_million_rows"])
        parts.append(f"fastest-growing while {node} runs: {fit['per_million_rows']:,.0f} MiB per "
                     "1M rows")
    return "; ".join(parts) or "not measured"


def rows_per_second(point: dict) -> dict[str, float]:
    """Rows per second of every component at one size (rows / its MLMD seconds)."""
    return {node: round(point["rows"] / seconds, 1)
            for node, seconds in point["components"].items() if seconds and seconds > 0}


def shown_nodes(points: list[dict]) -> list[str]:
    """Components over MIN_SHOWN_SECONDS at some size, in the order they ran."""
    nodes: list[str] = []
    for point in points:
        nodes += [n for n in point["components"] if n not in nodes
                  and max(p["components"].get(n) or 0 for p in points) >= MIN_SHOWN_SECONDS]
    return nodes


def fit_lines(points: list[dict]) -> list[str]:
    """Fixed and marginal cost per component from the fit, and the 1000x estimate below it."""
    fits = linear_fits(second_series(points))
    if not fits:
        return []
    found = estimate(points)
    nodes = [*shown_nodes(points), TOTAL]
    rows = [[node, fits[node]["fixed"], fits[node]["per_million_rows"],
             found["components_seconds"].get(node, found["total_seconds"] if node == TOTAL
                                             else None) if found else None]
            for node in nodes if node in fits]
    header = ["component", "fixed s (a)", "s per 1M rows (b)",
              f"ESTIMATE s at {ESTIMATE_ROWS / MILLION:g} M rows"]
    return ["Linear fit seconds = a + b * rows per component (least squares over the measured "
            "sizes):", "", *table(header, rows), "", *estimate_lines(found)]


def estimate_lines(found: dict | None) -> list[str]:
    """The 1000x estimate in words, labelled as one."""
    if not found:
        return []
    peaks = ", ".join(f"{name} {number(mib)} MiB" for name, mib in found["peak_mib"].items())
    verdict = {None: "not known (no memory samples)", True: "yes", False: "NO"}[found["fits"]]
    return [f"**{found['label']}** ({', '.join(f'{r:,}' for r in found['measured_rows'])} rows): "
            f"at {found['rows']:,} rows a cold run takes about {number(found['total_seconds'])} s "
            f"(components summed: {number(found['components_sum_seconds'])} s); peak memory "
            f"{peaks}; fits in {found['fits_in_mib'] // 1024} GiB: {verdict}. Memory growth: "
            f"{found['memory_growth']}.", ""]
