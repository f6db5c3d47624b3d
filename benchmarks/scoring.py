"""Batch scoring against its ceiling: `python -m pipeline score` (the CLI and its Beam path) on
each scale's data, beside the same pushed SavedModel loaded in process and called on large batches
(benchmarks/ceiling.py), with rows per second, peak memory and the ratio; and a profile of `score`
at the largest scale up to 10x (benchmarks/score_profile.py: where its time goes).

The model is pushed by one run on the bundled data in its own state (its thresholds set to pass,
so a model is pushed whatever the train steps); the scored files are each scale's data with an id
column added (`score` names rows by the project's id column). `python -m benchmarks.scoring`
measures this scenario alone; the suite runs it unless `--no-score`.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.harness import MeasuredProcessError
from pipeline.config import PROJECT_ROOT, PipelineConfig
from pipeline.serving import layout

if TYPE_CHECKING:
    from benchmarks.suite import Suite

ID_COLUMN = "bench_row_id"
STATE = "state"
PROFILE_MAX_SCALE = 10.0


def with_ids(source: Path, folder: Path) -> Path:
    """Each CSV file of source (a file or folder) copied into folder with ID_COLUMN first, unique
    over the files."""
    folder.mkdir(parents=True, exist_ok=True)
    files = [source] if source.is_file() else sorted(source.glob("*.csv"))
    for index, path in enumerate(files):
        with path.open(newline="") as reader_file, (folder / path.name).open(
                "w", newline="") as writer_file:
            reader, writer = csv.reader(reader_file), csv.writer(writer_file, lineterminator="\n")
            writer.writerow([ID_COLUMN, *next(reader)])
            writer.writerows([f"{index}-{line}", *row] for line, row in enumerate(reader))
    return folder


def scoring_code(root: Path) -> Path:
    """A copy of models/ whose default project declares the id column, beside a link to the data
    folder its declaration names (a copy's config resolves it next to its models)."""
    from benchmarks.suite import user_code_copy

    code = user_code_copy(root)
    declaration = code / "models" / PipelineConfig().declaration.name / "project.yaml"
    declaration.write_text(declaration.read_text() + f"id_column: {ID_COLUMN}\n")
    (code / "data").symlink_to(PROJECT_ROOT / "data", target_is_directory=True)
    return code


def passing_thresholds() -> list[str]:
    """`run` flags that set every declared threshold where any model passes it."""
    flags = []
    for threshold in PipelineConfig().declaration.thresholds:
        value = 0.0 if threshold.lower is not None else 1e30
        flags += ["--threshold", f"{threshold.metric}={value:g}"]
    return flags


def last_json(log: str) -> dict:
    """The JSON object a command printed last (its --json answer) in a child's log."""
    lines = [line for line in Path(log).read_text().splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


class Scoring:
    """One model pushed in its own state, then `score` and the ceiling on each dataset."""

    def __init__(self, suite: Suite) -> None:
        from benchmarks.suite import code_flags

        self.suite = suite
        self.root = suite.fresh("score")
        self.code = scoring_code(self.root)
        self.project = PipelineConfig().declaration.name
        self.run = suite.run_ours("score-train", PROJECT_ROOT / "data" / "taxi", self.root,
                                  *code_flags(self.code), *passing_thresholds(), code=self.code)
        base = layout.model_base_path(self.root / "serving_model", PipelineConfig().model_name)
        versions = layout.list_versions(base)
        if not versions:
            raise MeasuredProcessError(f"score-train pushed no model to {base}; log: {self.run['log']}")
        self.model = base / str(versions[-1])

    def score_arguments(self, data: Path, output: Path) -> list[str]:
        """`score` with every location in this scenario's state."""
        return ["score", "--project", self.project, "--metadata",
                str(self.root / "metadata.sqlite"), "--serving-dir",
                str(self.root / "serving_model"), "--config-dir", str(self.root / "serving-config"),
                "--data", str(data), "--output", str(output), "--json"]

    def settings(self) -> dict[str, str]:
        """The child's models (the copy with the id column) and state folders."""
        return {"PIPELINE_MODELS_DIR": str(self.code / "models"),
                "PIPELINE_STATE_DIR": str(self.root / STATE)}

    def point(self, scale: float, data: Path) -> dict:
        """`score` and the ceiling on one dataset: their processes, rows per second, the ratio."""
        tag = f"x{scale:g}"
        scored = with_ids(data, self.suite.options.work_dir / "data" / f"score-{tag}")
        cli = self.suite.measured(
            f"score-{tag}", [sys.executable, "-m", "pipeline",
                             *self.score_arguments(scored, self.root / f"scores-{tag}.csv")],
            self.code, self.settings(), accepted=(0,))
        cli["answer"] = last_json(cli["log"])
        output = self.root / f"ceiling-{tag}.json"
        ceiling = self.suite.measured(f"score-ceiling-{tag}", [
            sys.executable, "-m", "benchmarks.ceiling", "--model", str(self.model), "--data",
            str(scored), "--output", str(output)], accepted=(0,))
        ceiling["answer"] = json.loads(output.read_text())
        rows = cli["answer"]["rows"]
        return {
            "scale": scale, "rows": rows, "score": cli, "ceiling": ceiling,
            "rows_per_second": {
                "score_process": round(rows / cli["seconds"], 1),
                "score_command": cli["answer"]["rows_per_second"],
                "ceiling_process": round(rows / ceiling["seconds"], 1),
                "ceiling_in_process": ceiling["answer"]["rows_per_second_in_process"],
                "ceiling_model_calls": ceiling["answer"]["rows_per_second_model_calls"],
            },
            "ceiling_over_score": round(cli["seconds"] / ceiling["seconds"], 2),
        }

    def profile(self, data: Path) -> dict:
        """`score` on the data under cProfile: the seconds of each phase."""
        scored = with_ids(data, self.suite.options.work_dir / "data" / "score-profile")
        output = self.root / "profile.json"
        process = self.suite.measured("score-profile", [
            sys.executable, "-m", "benchmarks.score_profile", "--output", str(output), "--",
            *self.score_arguments(scored, self.root / "scores-profile.csv")],
            self.code, self.settings(), accepted=(0,))
        return {**json.loads(output.read_text()), "process": process}


def profiled_scale(scales: Sequence[float]) -> float:
    """The scale profiled: the largest up to PROFILE_MAX_SCALE (rows' cost shows, cProfile's
    slowdown stays affordable), else the smallest."""
    small = [scale for scale in scales if scale <= PROFILE_MAX_SCALE]
    return max(small) if small else min(scales)


def measure(suite: Suite, datasets: dict[float, Path]) -> dict:
    """The scenario on each dataset, smallest first, the profile after its scale's point; results
    saved after each step."""
    scoring = Scoring(suite)
    results: dict = {"model": str(scoring.model), "train": scoring.run, "points": []}
    suite.results["scoring"] = results
    profiled = profiled_scale(list(datasets))
    for scale in sorted(datasets):
        results["points"].append(scoring.point(scale, datasets[scale]))
        suite.save()
        if scale == profiled:
            results["profile"] = {"scale": scale, **scoring.profile(datasets[scale])}
            suite.save()
    return results


def lines(results: dict) -> list[str]:
    """The markdown section: score and its ceiling per size, then the profile's phases."""
    scoring = results.get("scoring")
    if not scoring or not scoring.get("points"):
        return []
    rows = [f"| {p['scale']:g}x | {p['rows']:,} | {p['score']['seconds']:.1f} | "
            f"{p['score']['cpu_seconds']:.1f} | {p['rows_per_second']['score_process']:,.0f} | "
            f"{p['rows_per_second']['score_command']:,.0f} | "
            f"{p['score']['peak_rss_mib']:,.0f} | {p['ceiling']['seconds']:.1f} | "
            f"{p['ceiling']['cpu_seconds']:.1f} | "
            f"{p['rows_per_second']['ceiling_process']:,.0f} | "
            f"{p['rows_per_second']['ceiling_in_process']:,.0f} | "
            f"{p['rows_per_second']['ceiling_model_calls']:,.0f} | "
            f"{p['ceiling']['peak_rss_mib']:,.0f} | {p['ceiling_over_score']:.1f} |"
            for p in scoring["points"]]
    section = [
        "### Batch scoring: `score` against the same SavedModel in process", "",
        "| scale | rows | score wall s | score CPU s | score rows/s (process) | score rows/s (its "
        "own clock) | score peak MiB | ceiling wall s | ceiling CPU s | ceiling rows/s (process) | "
        "ceiling rows/s (after load) | ceiling rows/s (model calls) | ceiling peak MiB | "
        "score / ceiling wall |",
        "|" + " --- |" * 14, *rows, ""]
    profile = scoring.get("profile", {})
    if profile.get("phases"):
        section += [f"Where `score`'s time goes at {profile['scale']:g}x (cProfile; phases nest):",
                    "",
                    "| phase | seconds |", "| --- | --- |",
                    *[f"| {name} | {seconds:.2f} |" for name, seconds in profile["phases"].items()],
                    ""]
    return section


def main(argv: Sequence[str] | None = None) -> int:
    """Measure this scenario alone (the bundled data and the --scales copies) and write
    results.json/results.md/results.png with it."""
    from benchmarks import report
    from benchmarks.suite import Suite, SuiteOptions, machine, options_json

    parser = argparse.ArgumentParser(prog="python -m benchmarks.scoring", description=__doc__)
    parser.add_argument("--scales", nargs="+", type=float, default=[1.0])
    parser.add_argument("--work-dir", type=Path, default=SuiteOptions().work_dir)
    parser.add_argument("--output", type=Path, default=SuiteOptions().work_dir / "scoring")
    parser.add_argument("--train-steps", type=int, default=SuiteOptions().train_steps)
    args = parser.parse_args(argv)
    options = SuiteOptions(work_dir=args.work_dir, output_dir=args.output,
                           train_steps=args.train_steps, scales=tuple(args.scales))
    suite = Suite(options)
    suite.results = {"machine": machine(), "options": options_json(options), "scaling": []}
    measure(suite, {scale: suite.dataset(scale)[0] for scale in options.scales})
    report.write(suite.results, options.output_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
