"""The cost of one weekly loop: a project created by `init` from a first span of the bundled data,
then three weeks of the season test's loop (tests/support/season.py: its data, its commands, its
order), each command timed as its own `python -m pipeline` process, as a team's scheduler runs it.

Week 1 has no labels yet (`run`, `score`, `monitor`); from week 2 on, the whole loop: `feedback` on
last week's labels, `promote`, `ingest` of last week's labelled batch as the next span, `run --spans
last-K`, `score` (stable, the canary in shadow), `monitor`. Week 3 is the first with a canary to
compare and promote (week 2's run pushed it), so the last week of the default three is the loop a
team pays every week. `python -m benchmarks.weekly` measures this scenario alone; the suite runs
it unless `--no-weekly`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmarks.suite import Suite
    from tests.support.season import Week

PROJECT = "weekly"
WINDOW = 2
WEEKS = 3
ROWS_PER_WEEK = 2000
MANIFEST = "weeks.json"


def prepare(root: Path, rows: int, weeks: int, train_steps: int) -> int:
    """Generate the season's files and `init` the project (in this process: the suite runs it as
    a child with the scenario's models and state folders); the weeks are listed in MANIFEST."""
    from tests.support import season

    first, batches = season.generate(root / "generated", season.Plan(weeks=weeks, rows=rows))
    loop = season.Season(root, PROJECT, WINDOW, train_steps)
    started = loop.init(first, min_labelled_rows=rows // 2, baseline_margin=0.15)
    (root / MANIFEST).write_text(json.dumps(
        [{k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(w).items()}
         for w in batches], indent=2))
    print(started.out, started.err, sep="\n")
    return int(started.code)


def read_weeks(root: Path) -> list[Week]:
    """The weeks `prepare` generated."""
    from tests.support.season import Week

    fields = {"batch", "labels", "labelled"}
    return [Week(**{k: Path(v) if k in fields else v for k, v in week.items()})
            for week in json.loads((root / MANIFEST).read_text())]


def status(command: str, argv: Sequence[str], measured: dict) -> str:
    """The season table's few words for a command's result, from its log."""
    from tests.support.season import Outcome, Row

    text = Path(measured["log"]).read_text()
    answers = [line for line in text.splitlines() if line.startswith("{")]
    out = answers[-1] if "--json" in argv and answers else text
    row = Row(0, False, {command: Outcome(tuple(argv), measured["exit_code"], out, text)})
    return row.status(command) or ("ok" if measured["exit_code"] == 0 else "")


def measure(suite: Suite, rows: int = ROWS_PER_WEEK, weeks: int = WEEKS) -> dict:
    """`init`, then each week's commands as measured children; results saved after each week."""
    from tests.support.season import Season

    root = suite.fresh("weekly")
    settings = {"PIPELINE_MODELS_DIR": str(root / "models"), "PIPELINE_STATE_DIR": str(root / "state")}
    init = suite.measured("weekly-init", [
        sys.executable, "-m", "benchmarks.weekly", "prepare", "--root", str(root), "--rows",
        str(rows), "--weeks", str(weeks), "--train-steps", str(suite.options.train_steps)],
        settings=settings,
        accepted=(0,))
    results: dict = {"project": PROJECT, "rows_per_week": rows, "window": WINDOW,
                     "train_steps": suite.options.train_steps, "init": init, "weeks": []}
    suite.results["weekly"] = results
    loop = Season(root, PROJECT, WINDOW, suite.options.train_steps)
    last = None
    for week in read_weeks(root):
        steps = {}
        for command, argv in loop.steps(week, last):
            timed = suite.measured(f"weekly-w{week.number}-{command}",
                                   [sys.executable, "-m", "pipeline", *argv], settings=settings,
                                   accepted=None)
            steps[command] = {**timed, "status": status(command, argv, timed)}
        results["weeks"].append({"week": week.number, "steps": steps, "total_seconds": round(
            sum(step["seconds"] for step in steps.values()), 2)})
        suite.save()
        last = week
    return results


def lines(results: dict) -> list[str]:
    """The markdown section: each command's seconds in week 1 and in the full loop of week 2."""
    weekly = results.get("weekly")
    if not weekly or not weekly.get("weeks"):
        return []
    weeks = weekly["weeks"]
    full = weeks[-1]
    order = list(full["steps"]) + [c for w in weeks for c in w["steps"] if c not in full["steps"]]
    header = ["command", *[f"week {w['week']} wall s" for w in weeks],
              f"week {full['week']} CPU s", f"week {full['week']} peak MiB",
              f"week {full['week']} result"]
    rows = []
    for command in order:
        cells = [f"`{command}`"]
        cells += [_seconds(w["steps"].get(command, {}).get("seconds")) for w in weeks]
        step = full["steps"].get(command, {})
        cells += [_seconds(step.get("cpu_seconds")), _seconds(step.get("peak_rss_mib"), 0),
                  str(step.get("status", "-")).replace("|", "/")]
        rows.append("| " + " | ".join(cells) + " |")
    cpu = sum(step.get("cpu_seconds", 0.0) for step in full["steps"].values())
    totals = ["**total**", *[f"**{w['total_seconds']:.1f}**" for w in weeks], f"**{cpu:.1f}**",
              "", ""]
    return [
        f"### One weekly loop: project `{weekly['project']}` from `init`, {weekly['rows_per_week']:,}"
        f" rows a week, `run --spans last-{weekly['window']}`, {weekly['train_steps']} train steps",
        "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header), *rows,
        "| " + " | ".join(totals) + " |", "",
        f"`init` (profile the first span, write the declaration): {weekly['init']['seconds']:.1f} s."
        " Each command is its own process (imports included), as a scheduler runs it.", ""]


def _seconds(value: float | None, digits: int = 1) -> str:
    """A table cell for seconds or MiB; a dash when the week did not run the command."""
    return "-" if value is None else f"{value:,.{digits}f}"


def main(argv: Sequence[str] | None = None) -> int:
    """`prepare` (the suite's child), or the scenario alone written to results files."""
    from benchmarks import report
    from benchmarks.suite import Suite, SuiteOptions, machine, options_json

    parser = argparse.ArgumentParser(prog="python -m benchmarks.weekly", description=__doc__)
    parser.add_argument("action", nargs="?", choices=("measure", "prepare"), default="measure")
    parser.add_argument("--root", type=Path, help="prepare: the scenario's folder")
    parser.add_argument("--rows", type=int, default=ROWS_PER_WEEK, help="rows of each week's batch")
    parser.add_argument("--weeks", type=int, default=WEEKS, help="weeks of the loop (2 or more)")
    parser.add_argument("--train-steps", type=int, default=SuiteOptions().train_steps)
    parser.add_argument("--work-dir", type=Path, default=SuiteOptions().work_dir)
    parser.add_argument("--output", type=Path, default=SuiteOptions().work_dir / "weekly-results")
    args = parser.parse_args(argv)
    if args.action == "prepare":
        return prepare(args.root, args.rows, args.weeks, args.train_steps)
    options = SuiteOptions(work_dir=args.work_dir, output_dir=args.output,
                           train_steps=args.train_steps)
    suite = Suite(options)
    suite.results = {"machine": machine(), "options": options_json(options), "scaling": []}
    measure(suite, args.rows, args.weeks)
    report.write(suite.results, options.output_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
