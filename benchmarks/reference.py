"""Identical results: the end-to-end cold run's Evaluator metrics (overall), blessing and pushed
version against a committed reference (benchmarks/reference/x<scale>-steps<steps>.json, written by
`--record-reference`), within the project's metrics tolerance; and re-runs that push nothing new."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.shared import number, table
from pipeline.config import PROJECT_ROOT
from pipeline.config.project import Tolerance

REFERENCE_DIR = PROJECT_ROOT / "benchmarks" / "reference"


def reference_path(folder: Path, scale: float, train_steps: int) -> Path:
    """Where the reference of one scale and step count lives."""
    return folder / f"x{scale:g}-steps{train_steps}.json"


def outcome(results: dict) -> dict | None:
    """What the end-to-end cold run produced that must not change (None before the probe ran)."""
    e2e, evaluator = results.get("end_to_end", {}), results.get("models", {}).get("evaluator")
    cold = e2e.get("ours", {}).get("cold")
    if not cold or evaluator is None:
        return None
    return {"scale": e2e["scale"], "rows": e2e["rows"],
            "train_steps": results["options"]["train_steps"],
            "pipeline_args": results["options"].get("pipeline_args", []),
            "metrics": dict(sorted(evaluator.get("ours", {}).items())),
            "blessed": cold.get("blessed"), "pushed_version": cold.get("pushed_version")}


def record(measured: dict, folder: Path) -> Path:
    """Write the measured outcome as the reference of its scale and step count."""
    path = reference_path(folder, measured["scale"], measured["train_steps"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(measured, indent=2, sort_keys=True) + "\n")
    return path


def compare(measured: dict, reference: dict, tolerance: Tolerance) -> dict:
    """Every metric of either side within tolerance, the same blessing and pushed version."""
    rows = []
    for name in sorted(set(reference["metrics"]) | set(measured["metrics"])):
        old, new = reference["metrics"].get(name), measured["metrics"].get(name)
        same = old is not None and new is not None and tolerance.allows(old, new)
        rows.append({"what": f"metric {name}", "reference": old, "measured": new, "same": same})
    for key in ("blessed", "pushed_version"):
        rows.append({"what": key.replace("_", " "), "reference": reference.get(key),
                     "measured": measured.get(key), "same": reference.get(key) == measured.get(key)})
    return {"tolerance": tolerance.describe(), "rows": rows, "ok": all(r["same"] for r in rows)}


def check(measured: dict | None, folder: Path, tolerance: Tolerance) -> dict:
    """The comparison with the reference for the measured scale and steps; ok None (not
    compared) without an outcome or without a reference for that scale and step count."""
    if measured is None:
        return {"ok": None, "note": "the end-to-end run did not reach the model probe"}
    path = reference_path(folder, measured["scale"], measured["train_steps"])
    if not path.is_file():
        return {"ok": None, "reference": str(path),
                "note": f"no reference for {measured['scale']:g}x, {measured['train_steps']} steps "
                        "(write one with --record-reference)"}
    return {"reference": str(path), **compare(measured, json.loads(path.read_text()), tolerance)}


def unchanged_input_check(served_after_cold: list[int], served_after_reruns: list[int],
                          rerun_pushed: str | None) -> dict:
    """Re-runs with unchanged input (warm, --force) publish no new serving version."""
    ok = served_after_reruns == served_after_cold and rerun_pushed is None
    return {"ok": ok, "served_after_cold": served_after_cold,
            "served_after_reruns": served_after_reruns, "rerun_pushed_version": rerun_pushed}


def failures(results: dict) -> list[str]:
    """What differs, one line each (empty: identical or not compared)."""
    checks = results.get("identical_results", {})
    found = [f"{row['what']}: reference {row['reference']}, measured {row['measured']}"
             for row in checks.get("reference", {}).get("rows", []) if not row["same"]]
    unchanged = checks.get("unchanged_input")
    if unchanged and not unchanged["ok"]:
        found.append(f"a re-run with unchanged input pushed: served versions "
                     f"{unchanged['served_after_cold']} -> {unchanged['served_after_reruns']}, "
                     f"re-run pushed {unchanged['rerun_pushed_version']}")
    return found


def lines(results: dict) -> list[str]:
    """The comparison table, or why nothing was compared."""
    checks = results.get("identical_results")
    if not checks:
        return []
    compared, unchanged = checks.get("reference", {}), checks.get("unchanged_input")
    verdict = {True: "identical", False: "DIFFERENT", None: "not compared"}[compared.get("ok")]
    out = [f"### Identical results: {verdict} (reference {compared.get('reference', '-')}, "
           f"tolerance {compared.get('tolerance', '-')})", ""]
    if compared.get("note"):
        out += [compared["note"], ""]
    rows = [[r["what"], r["reference"], r["measured"], "same" if r["same"] else "DIFFERENT"]
            for r in compared.get("rows", [])]
    if rows:
        out += [*table(["", "reference", "measured", ""], rows, 4), ""]
    if unchanged:
        out += [f"Re-runs with unchanged input (warm, --force): served versions "
                f"{unchanged['served_after_cold']} after the cold run, "
                f"{unchanged['served_after_reruns']} after the re-runs; pushed "
                f"{number(unchanged['rerun_pushed_version'])}: "
                f"{'nothing new' if unchanged['ok'] else 'PUSHED AGAIN'}.", ""]
    return out
