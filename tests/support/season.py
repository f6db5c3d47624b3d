"""A season in production, generated from the bundled taxi data and driven through the CLI.

`generate` writes a first span (what `init` profiles) and weekly batches: natural growth every
week (fares rising past the training range, a rare new payment type in one week), and from one
week on a lasting shift (fares x1.5, 30 points of the payment mix moved from credit card to cash,
and cash trips over two miles now tipped, so a model retrained on the shifted data is better).
Each week's labels arrive a week after its batch.

`Season.week` runs one week the way a team's scheduler would, each command as `python -m
pipeline` runs it (in this process, so TensorFlow is imported once), and returns one table row:

1. `feedback` the labels of last week's batch (live metrics of stable and canary),
2. `promote` the canary if its live metrics earned it,
3. `ingest` last week's batch with its labels as the next span,
4. `run --spans last-K` on the window,
5. `score` this week's batch (stable, the canary in shadow),
6. `monitor` this week's batch.

Run before score, promote after feedback: a model trained on the shift's first labelled week
(trained in week s+1) scores week s+1 in shadow, its live labels arrive in week s+2, and it can
serve `stable` two weeks after the shift began. A command this checkout does not have is
recorded as `missing` (the loop goes on), so the same driver serves every stage of the project.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.__main__ import main
from pipeline.cli import build_parser
from pipeline.config import PROJECT_ROOT

SOURCE = PROJECT_ROOT / "data" / "taxi" / "data.csv"
ID, LABEL = "trip_id", "big_tipper"
FEATURES = ("fare", "trip_miles", "payment_type", "trip_start_hour")
CASH, CARD, NEW_PAYMENT = "Cash", "Credit Card", "Mobile"
MISSING = "missing"
PRIMARY = ("auc", "accuracy")  # the live metrics the table shows
# The L2 penalty the season's team declares: the network's default (models/common/model.py), see Season.init.
TEAM_L2 = 0.001


@dataclass(frozen=True)
class Plan:
    """The season's shape: how many weeks, rows per batch, when the shift and the new category come."""

    weeks: int = 6
    rows: int = 200
    shift_from: int = 4
    new_category_week: int = 2
    fare_scale: float = 1.5
    cash_points: float = 0.30
    growth_per_week: float = 0.03
    seed: int = 0


@dataclass(frozen=True)
class Week:
    """One week's files: the batch production sends (no label), its labels, and both together."""

    number: int
    batch: Path
    labels: Path
    labelled: Path
    shifted: bool
    new_category: bool


def source_rows() -> list[dict[str, str]]:
    """Rows of the bundled taxi data with every season column filled, paid by card or cash (the
    rarer payment types would come and go between weeks by chance), a binary label added."""
    with SOURCE.open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if all(r[c] for c in (*FEATURES, "tips"))
                and r["payment_type"] in (CASH, CARD)]
    for row in rows:
        row[LABEL] = str(int(float(row["tips"]) > 0.2 * float(row["fare"])))
    return rows


def week_rows(pool: list[dict[str, str]], plan: Plan, number: int, top_fare: float) -> list[dict]:
    """One week's rows: drawn from the pool, grown, and shifted from plan.shift_from on."""
    rng = random.Random(plan.seed * 1000 + number)
    drawn = [dict(r) for r in rng.sample(pool, plan.rows)]
    rows = [{ID: f"w{number}-{i:04d}", **{c: r[c] for c in (*FEATURES, LABEL)}} for i, r in enumerate(drawn)]
    if number == 0:
        return rows
    growth = 1 + plan.growth_per_week * number
    for row in rows:
        row["fare"] = f"{float(row['fare']) * growth:.2f}"
    for row in rows[:2]:  # a few trips past anything the first model saw
        row["fare"] = f"{top_fare * (1.2 + 0.1 * number):.2f}"
    if number == plan.new_category_week:
        for row in rows[2:4]:
            row["payment_type"] = NEW_PAYMENT
    if number >= plan.shift_from:
        shift(rows, plan, rng)
    return rows


def shift(rows: list[dict], plan: Plan, rng: random.Random) -> None:
    """Fares x fare_scale, cash_points of the rows moved from card to cash, long cash trips tipped."""
    cards = [r for r in rows if r["payment_type"] == CARD]
    for row in rng.sample(cards, min(len(cards), round(plan.cash_points * len(rows)))):
        row["payment_type"] = CASH
    for row in rows:
        row["fare"] = f"{float(row['fare']) * plan.fare_scale:.2f}"
        if row["payment_type"] == CASH:
            row[LABEL] = str(int(float(row["trip_miles"]) > 2.0))


def write(path: Path, rows: Sequence[dict], columns: Sequence[str]) -> Path:
    """A CSV of these columns of the rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def generate(folder: Path, plan: Plan = Plan()) -> tuple[Path, list[Week]]:
    """The first span's CSV (for `init`) and every week's files under `folder`."""
    pool = source_rows()
    first = week_rows(pool, plan, 0, 0.0)
    top_fare = max(float(r["fare"]) for r in first)
    first_csv = write(folder / "first" / "trips.csv", first, (ID, *FEATURES, LABEL))
    weeks = []
    for number in range(1, plan.weeks + 1):
        rows = week_rows(pool, plan, number, top_fare)
        here = folder / f"week-{number}"
        weeks.append(Week(
            number,
            write(here / "batch.csv", rows, (ID, *FEATURES)),
            write(here / "labels.csv", rows, (ID, LABEL)),
            write(here / "labelled.csv", rows, (ID, *FEATURES, LABEL)),
            number >= plan.shift_from, number == plan.new_category_week))
    return first_csv, weeks


@dataclass(frozen=True)
class Outcome:
    """One command's exit code and output ('missing': this checkout has no such command)."""

    argv: tuple[str, ...]
    code: int | str
    out: str
    err: str

    @property
    def first_error(self) -> str:
        """The command's `error:` line, if it printed one."""
        return next((line for line in self.err.splitlines() if line.startswith("error:")), "")


def available_commands() -> frozenset[str]:
    """The subcommands `python -m pipeline` has in this checkout."""
    parser = build_parser()
    return frozenset(next(a for a in parser._subparsers._group_actions).choices)  # type: ignore[union-attr]


def call(argv: Sequence[str], commands: frozenset[str]) -> Outcome:
    """`python -m pipeline ARGV` in this process, its output captured."""
    if argv[0] not in commands:
        return Outcome(tuple(argv), MISSING, "", "")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code: int | str = main(list(argv))
        except SystemExit as stop:
            code = int(stop.code or 0)
    return Outcome(tuple(argv), code, out.getvalue(), err.getvalue())


@dataclass
class Row:
    """What one week did: the table the season test prints and asserts on."""

    week: int
    shifted: bool
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    stable: str = ""
    versions: tuple[int, ...] = ()

    def status(self, command: str) -> str:
        """A command's result in a few words for the table."""
        outcome = self.outcomes.get(command)
        if outcome is None:
            return "-"
        if outcome.code == MISSING:
            return MISSING
        summary = SUMMARIES.get(command, _exit_only)(outcome)
        return summary if outcome.code == 0 else f"exit {outcome.code} {summary}".strip()

    def run_drift(self) -> list[str]:
        """The features the week's run recorded as drifted between spans (its summary's lines)."""
        outcome = self.outcomes.get("run")
        return re.findall(r"^drift\s+ALERT feature '([^']+)'", outcome.out if outcome else "", re.M)

    def alerts(self) -> list[str]:
        """The monitor's problem lines (SKEW/DRIFT/SCHEMA ... feature ...)."""
        outcome = self.outcomes.get("monitor")
        text = outcome.out if outcome else ""
        return [line.strip() for line in text.splitlines()
                if re.match(r"[A-Z]{4,}\s+\S", line)
                and not line.startswith(("ALERT", "OK", "VALUE"))]  # VALUE: growth, no alert


def _exit_only(outcome: Outcome) -> str:
    return outcome.first_error.removeprefix("error: ")[:60]


def _run_summary(outcome: Outcome) -> str:
    """pushed vN / up to date / not blessed / stopped, from the run's summary lines."""
    text = outcome.out
    if text.startswith("up to date") or "\nup to date" in text:
        return "up to date"
    pushed = re.search(r"pushed as version (\d+)", text)
    if pushed:
        return f"pushed v{pushed.group(1)}"
    if re.search(r"^model\s+NOT BLESSED", text, re.M):
        return "not blessed"
    return _exit_only(outcome) or "no push"


def _ingest_summary(outcome: Outcome) -> str:
    """The span landed, or why not."""
    landed = re.search(r"as \S*span-(\d+)", outcome.out)
    if "nothing landed" in outcome.out:
        return "already landed"
    return f"span {landed.group(1)}" if landed else _exit_only(outcome)


def _score_summary(outcome: Outcome) -> str:
    """How many rows which version scored."""
    try:
        answer = json.loads(outcome.out)
    except ValueError:
        return _exit_only(outcome)
    return f"{answer['rows']} rows v{answer['version']}"


def _feedback_summary(outcome: Outcome) -> str:
    """How many labels arrived, and each version's live primary metric on the rows it scored."""
    try:
        answer = json.loads(outcome.out)
    except ValueError:
        return _exit_only(outcome)
    models = [f"v{m['version']}{' (canary)' if m['roles'] == ['canary'] else ''} "
              + " ".join(f"{k} {v:.3f}" for k, v in m["metrics"].items() if k in PRIMARY)
              + f" ({m['rows']} rows)" for m in answer["models"]]
    return f"{answer['labels']} labels: " + "; ".join(models)


def _promote_summary(outcome: Outcome) -> str:
    """promoted vN / refused: why, as promote's first line says it."""
    first = outcome.out.strip().splitlines()[:1]
    return first[0][:70] if first else _exit_only(outcome)


SUMMARIES = {"run": _run_summary, "ingest": _ingest_summary, "feedback": _feedback_summary,
             "score": _score_summary, "promote": _promote_summary}


class Season:
    """One project's season: the paths every command shares and the loop's weekly step."""

    def __init__(self, root: Path, project: str, window: int, train_steps: int) -> None:
        self.root, self.project, self.window, self.train_steps = root, project, window, train_steps
        self.commands = available_commands()
        self.rows: list[Row] = []

    def flags(self, *names: str) -> list[str]:
        """The shared location flags a command takes, by name."""
        values = {
            "project": ["--project", self.project],
            "metadata": ["--metadata", str(self.root / "metadata.sqlite")],
            "serving": ["--serving-dir", str(self.root / "serving")],
            "config": ["--config-dir", str(self.root / "serving-config")],
            "monitor_config": ["--serving-config-dir", str(self.root / "serving-config")],
            "run": ["--serving-config-dir", str(self.root / "serving-config"),
                    "--pipeline-root", str(self.root / "pipeline"), "--log-dir",
                    str(self.root / "logs"), "--train-steps", str(self.train_steps),
                    "--eval-steps", "5"],
        }
        return [flag for name in names for flag in values[name]]

    def init(self, first: Path, min_labelled_rows: int, baseline_margin: float) -> Outcome:
        """`init` on the first span's CSV, the project written under the season's models dir; the
        team then declares champion/challenger promotion (a new model serves as canary first), the
        margin a model may trail the linear baseline by (a few training steps on a few hundred
        rows trail it more than init's default allows), and the network's own L2 penalty: init's
        small-data penalty (20 / rows, 0.1 on these 200-row spans) made a retrained model lean on
        the payment type the shift inverts (live AUC 0.42 on the shifted week against the serving
        model's 0.89), so no model of the shifted data served within two weeks (docs/season.md)."""
        outcome = self.logged(call(["init", self.project, "--data", str(first), "--label", LABEL,
                                    "--models-dir", str(self.root / "models")], self.commands))
        if outcome.code == 0:
            declaration = self.root / "models" / self.project / "project.yaml"
            text = re.sub(r"baseline_margin: [0-9.]+", f"baseline_margin: {baseline_margin}",
                          declaration.read_text())
            text = re.sub(r"l2: [0-9.e-]+", f"l2: {TEAM_L2}", text)
            declaration.write_text(
                text + f"promotion: {{mode: canary, min_labelled_rows: {min_labelled_rows}}}\n")
        return outcome

    def week(self, week: Week, last: Week | None) -> Row:
        """One week of the loop (the module's docstring has the order and why)."""
        row = Row(week.number, week.shifted)
        for name, argv in self.steps(week, last):
            row.outcomes[name] = self.logged(call(argv, self.commands))
        row.stable, row.versions = self.serving()
        self.rows.append(row)
        return row

    def steps(self, week: Week, last: Week | None) -> list[tuple[str, list[str]]]:
        """Each command of one week and its arguments, in the loop's order (the benchmark times
        each as its own process)."""
        steps: list[tuple[str, list[str]]] = []
        if last is not None:
            steps += [
                ("feedback", ["feedback", *self.flags("project", "metadata"), "--labels",
                              str(last.labels), "--json"]),
                ("promote", ["promote", *self.flags("project", "metadata", "serving", "config")]),
                ("ingest", ["ingest", str(last.labelled), "--project", self.project]),
            ]
        steps += [
            ("run", ["run", *self.flags("project", "metadata", "serving", "run"),
                     "--spans", f"last-{self.window}"]),
            ("score", ["score", *self.flags("project", "metadata", "serving", "config"),
                       "--data", str(week.batch), "--json"]),
            ("monitor", ["monitor", str(week.batch), *self.flags("project", "metadata", "monitor_config"),
                         "--state-dir", str(self.root / "monitoring")]),
        ]
        return steps

    def logged(self, outcome: Outcome) -> Outcome:
        """Append the command and what it printed to the season's commands.log (for the docs)."""
        with (self.root / "commands.log").open("a") as log:
            log.write(f"$ python -m pipeline {' '.join(outcome.argv)}\n{outcome.out}")
            log.write("".join(f"{line}\n" for line in outcome.err.splitlines()
                              if line.startswith(("error:", "warning:"))))
            log.write(f"[exit {outcome.code}]\n\n")
        return outcome

    def serving(self) -> tuple[str, tuple[int, ...]]:
        """The version `stable` names now (serving-config's rule) and every pushed version."""
        from pipeline.config import config_from_values
        from pipeline.scoring.model_choice import version_labels
        from pipeline.serving import layout
        from pipeline.serving.server_config import known_versions

        config = config_from_values({"project": self.project, "models_dir": str(self.root / "models"),
                                     "serving_dir": str(self.root / "serving"),
                                     "metadata_path": str(self.root / "metadata.sqlite")})
        known, _ = known_versions(config)
        base = layout.model_base_path(self.root / "serving", config.model_name)
        labels = version_labels(self.root / "serving-config", config.model_name, str(base), known)
        return ", ".join(f"{k}=v{v}" for k, v in sorted(labels.items())), tuple(known)


COLUMNS = ("week", "feedback", "promote", "ingest", "run", "run drift", "score", "monitor", "alerts",
           "serving")


def table(rows: Sequence[Row]) -> str:
    """The season as a Markdown table, one row per week."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for row in rows:
        cells = [f"{row.week}{' (shifted)' if row.shifted else ''}",
                 *(row.status(c) for c in ("feedback", "promote", "ingest", "run")),
                 ", ".join(sorted(set(row.run_drift()))) or "none", row.status("score"),
                 row.status("monitor") or "ok", "; ".join(a[:70] for a in row.alerts()) or "none",
                 row.stable]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)
