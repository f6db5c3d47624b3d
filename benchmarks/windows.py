"""Windows of spans: what Transform's analyzer cache saves on a sliding `last-3` window.

The bundled rows are dealt into four span folders. A cold `last-3` run over spans 1-3, then
`last-3` over 2-4 on the same state (span 2's analysis in the analyzer cache), against a cold
`last-3` over 2-4 in a fresh state; then `--force` on 2-4 again, the cost of the trade-off (the
cache input changes every run, so a window's Transform never comes from TFX's execution cache, but
reads every span from the analyzer cache). Transform's seconds come from ML Metadata.
`python -m benchmarks.windows` measures this scenario alone; the suite runs it unless
`--no-windows`.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.config import store_config
from pipeline.data import spans
from pipeline.metadata import connection, records
from pipeline.vocabulary import ANALYZER_CACHE_KEY, TRANSFORM, TRANSFORM_GRAPH_KEY

if TYPE_CHECKING:
    from benchmarks.suite import Suite

SPANS = 4
WINDOW = 3
RUNS = ("cold_1_3", "cached_2_4", "cold_2_4", "forced_2_4")


def split_into_spans(source: Path, folder: Path, count: int) -> list[int]:
    """The source folder's CSV rows dealt in order into `count` span-N folders (header on each);
    the rows per span."""
    [csv] = sorted(source.glob("*.csv"))
    header, *rows = csv.read_text().splitlines(keepends=True)
    shutil.rmtree(folder, ignore_errors=True)
    size = -(-len(rows) // count)
    sizes = []
    for span in range(1, count + 1):
        part = rows[(span - 1) * size: span * size]
        target = spans.span_dir(folder, span)
        target.mkdir(parents=True)
        (target / spans.SPAN_FILE).write_text(header + "".join(part))
        sizes.append(len(part))
    return sizes


def transform_facts(metadata_path: Path, run_id: str) -> dict:
    """Transform's seconds and state in one run, its graph's folder and the cache it read."""
    store = connection.open_metadata(store_config({}, {"metadata_path": metadata_path}))
    [run] = [r for r in records.component_runs(store, run_id) if r.node_id == TRANSFORM]
    events = store.get_events_by_execution_ids([run.execution.id])
    read = [e.artifact_id for e in events if e.type == e.INPUT
            and e.path.steps and e.path.steps[0].key == ANALYZER_CACHE_KEY]
    return {"seconds": round(run.seconds, 2), "state": run.state,
            "transform_graph": run.outputs[TRANSFORM_GRAPH_KEY][0].uri,
            "analyzer_cache_read": read[0] if read else None}


def same_vocabularies(first_graph: str, second_graph: str) -> bool:
    """Whether two transform graphs hold byte-identical vocabulary (asset) files."""
    first, second = (Path(g) / "transform_fn" / "assets" for g in (first_graph, second_graph))
    names = sorted(p.name for p in first.iterdir())
    if names != sorted(p.name for p in second.iterdir()):
        return False
    return all(filecmp.cmp(first / n, second / n, shallow=False) for n in names)


def measure(suite: Suite, source: Path) -> dict:
    """The four runs of the scenario, timed, with Transform's seconds from ML Metadata."""
    data = suite.options.work_dir / "data" / "windows"
    rows = split_into_spans(source, data / "all", SPANS)
    flags = ("--spans", f"last-{WINDOW}", "--analyzer-cache")
    for span in range(1, WINDOW + 1):
        shutil.copytree(spans.span_dir(data / "all", span), spans.span_dir(data / "live", span))
    cached_root = suite.fresh("windows-cached")
    runs = {RUNS[0]: suite.run_ours("windows-cold-1-3", data / "live", cached_root, *flags)}
    shutil.copytree(spans.span_dir(data / "all", SPANS), spans.span_dir(data / "live", SPANS))
    runs[RUNS[1]] = suite.run_ours("windows-cached-2-4", data / "live", cached_root, *flags)
    runs[RUNS[2]] = suite.run_ours("windows-cold-2-4", data / "live", suite.fresh("windows-cold"),
                                   *flags)
    runs[RUNS[3]] = suite.run_ours("windows-forced-2-4", data / "live", cached_root, *flags,
                                   "--force")
    roots = {name: cached_root for name in RUNS}
    roots[RUNS[2]] = suite.options.work_dir / "windows-cold"
    for name, run in runs.items():
        run["transform"] = transform_facts(roots[name] / "metadata.sqlite", run["run_id"])
    cached, cold = runs[RUNS[1]]["transform"], runs[RUNS[2]]["transform"]
    return {
        "spans": SPANS, "window": WINDOW, "rows_per_span": rows,
        "runs": runs,
        "transform_cached_over_cold": round(cached["seconds"] / cold["seconds"], 3),
        "vocabularies_identical": same_vocabularies(cached["transform_graph"],
                                                    cold["transform_graph"]),
    }


def lines(results: dict) -> list[str]:
    """The markdown section: one row per run, Transform's seconds and the cache it read."""
    windows = results.get("windows")
    if not windows:
        return []
    labels = {RUNS[0]: "cold, spans 1-3", RUNS[1]: "spans 2-4 after 1-3 (analyzer cache)",
              RUNS[2]: "cold, spans 2-4 (no cache)",
              RUNS[3]: "spans 2-4 again, --force (every span in the analyzer cache)"}
    rows = [f"| {labels[name]} | {run['seconds']:.1f} | {run['transform']['seconds']:.1f} | "
            f"{'yes' if run['transform']['analyzer_cache_read'] else 'no'} |"
            for name, run in windows["runs"].items()]
    return [
        f"### Windows of spans: `last-{windows['window']}` over {windows['spans']} spans "
        f"({', '.join(map(str, windows['rows_per_span']))} rows)", "",
        "| run | wall (s) | Transform (s, MLMD) | read an analyzer cache |", "| --- | --- | --- | --- |",
        *rows, "",
        f"Transform with the cache / cold: {windows['transform_cached_over_cold']:.2f}; "
        f"vocabularies identical to the cold run's: {windows['vocabularies_identical']}.", "",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Measure this scenario alone and write results.json/results.md/results.png with it."""
    from benchmarks import report
    from benchmarks.suite import BUNDLED_DATA, Suite, SuiteOptions, machine, options_json

    parser = argparse.ArgumentParser(prog="python -m benchmarks.windows", description=__doc__)
    parser.add_argument("--work-dir", type=Path, default=SuiteOptions().work_dir)
    parser.add_argument("--output", type=Path, default=SuiteOptions().work_dir / "windows")
    parser.add_argument("--train-steps", type=int, default=SuiteOptions().train_steps)
    args = parser.parse_args(argv)
    options = SuiteOptions(work_dir=args.work_dir, output_dir=args.output,
                           train_steps=args.train_steps)
    suite = Suite(options)
    suite.results = {"machine": machine(), "options": options_json(options), "scaling": []}
    suite.results["windows"] = measure(suite, BUNDLED_DATA)
    report.write(suite.results, options.output_dir)
    print(json.dumps({k: v for k, v in suite.results["windows"].items() if k != "runs"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
