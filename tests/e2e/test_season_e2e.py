"""A season in production, driven through the CLI week by week (tests/support/season.py):
`init` on a first span of taxi trips with an id column, then six weeks of scoring, monitoring,
label feedback, ingest, retraining on a window of spans and promotion, one table row per week.

The season runs once per module; the tests read its table. `pytest -s` prints the table, and it
is written to season.md in the season's folder."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from pipeline.errors import EXIT_NOT_BLESSED
from pipeline.scoring import prediction_log
from tests.support import season

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.taxi]
PLAN = season.Plan()
WINDOW, TRAIN_STEPS = 2, 200
PROJECT = "season"


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory):
    """The whole season, played once: (the Season with its rows, the weeks, init's outcome)."""
    root = tmp_path_factory.mktemp("season")
    first, weeks = season.generate(root / "generated", PLAN)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PIPELINE_MODELS_DIR", str(root / "models"))
        played = season.Season(root, PROJECT, WINDOW, TRAIN_STEPS)
        started = played.init(first, min_labelled_rows=PLAN.rows // 2, baseline_margin=0.15)
        assert started.code == 0, started.err
        last = None
        for week in weeks:
            played.week(week, last)
            last = week
        text = season.table(played.rows)
        (root / "season.md").write_text(text + "\n")
        print(f"\nseason of project {PROJECT} ({root}):\n{text}")
        yield played, weeks, started


def batch_ids(path: Path) -> list[str]:
    with path.open(newline="") as handle:
        return [row[season.ID] for row in csv.DictReader(handle)]


def test_init_makes_the_unique_column_the_id(played) -> None:
    _, _, started = played
    assert f"id column: {season.ID}" in started.out


def test_every_batch_is_scored_and_in_the_prediction_log_once(played) -> None:
    loop, weeks, _ = played
    logged: list[str] = []
    for row, week in zip(loop.rows, weeks, strict=True):
        scored = row.outcomes["score"]
        assert scored.code == 0, scored.err[-2000:]
        answer = json.loads(scored.out)
        assert answer["rows"] == PLAN.rows
        folder = Path(answer["prediction_log"]).parent
        logged = [(r[prediction_log.RECORD_ID], r[prediction_log.VERSION])
                  for r in prediction_log.read_log(folder)]
        assert set(batch_ids(week.batch)) <= {i for i, _ in logged}
    # Every row of every batch, once per version that scored it (stable, and a canary in shadow).
    assert {i for i, _ in logged} == {i for w in weeks for i in batch_ids(w.batch)}
    assert len(logged) == len(set(logged))


def test_the_first_ingest_turns_inits_folder_into_spans_and_each_week_lands_the_next(played) -> None:
    loop, weeks, _ = played
    data = loop.root / "data" / PROJECT
    first = loop.rows[1].outcomes["ingest"]
    assert first.code == 0, first.err
    assert first.out.startswith(f"converted {data} to span folders: its 1 data file(s) are now span 1")
    landed = [int(m.group(1)) for row in loop.rows[1:]
              if (m := re.search(r"landed .* as \S*span-(\d+)", row.outcomes["ingest"].out))]
    assert landed == list(range(2, len(landed) + 2))
    # A week with a category never seen may be refused (schema skew) until the schema lets data
    # grow; every other week lands.
    assert len(landed) >= sum(not w.new_category for w in weeks[:-1])
    assert (data / "span-1" / "trips.csv").is_file() and not (data / "trips.csv").exists()


def test_each_week_retrains_on_the_newest_spans_and_nothing_stops(played) -> None:
    loop, _, _ = played
    statuses = [row.status("run") for row in loop.rows]
    assert statuses[0] == "pushed v1", loop.rows[0].outcomes["run"].err[-3000:]
    for row in loop.rows:
        ran = row.outcomes["run"]
        assert ran.code in (0, EXIT_NOT_BLESSED), ran.err[-3000:]
    context = windows(loop)
    assert context[0] == "none"  # the first week reads init's plain folder
    assert all(re.fullmatch(r"\d+-\d+", span) for span in context[1:]), context


def windows(loop: season.Season) -> list[str]:
    """The data_span each week's run recorded (the newest run context of the store after it)."""
    from pipeline.config import config_from_values
    from pipeline.metadata import connection, pushes, records

    config = config_from_values({"project": PROJECT, "models_dir": str(loop.root / "models"),
                                 "metadata_path": str(loop.root / "metadata.sqlite")})
    store = connection.open_metadata(config)
    runs = records.run_contexts(store, config.pipeline_name)
    spans = [str(pushes.recorded_run_context(store, run.name).get("data_span")) for run in runs]
    return spans[-len(loop.rows):]


def test_the_shift_is_caught_in_the_week_it_starts(played) -> None:
    loop, _, _ = played
    shifted = next(row for row in loop.rows if row.shifted)
    assert shifted.outcomes["monitor"].code == 1, shifted.outcomes["monitor"].out
    assert any(re.search(r"'(fare|payment_type)'", alert) for alert in shifted.alerts())


def test_the_runs_record_drift_on_the_first_shifted_span_and_never_on_clean_ones(played) -> None:
    """The season's project (init's: no drift comparators in its schema) is checked between spans
    on every declared feature: nothing on the clean weeks' spans (growth included), the shift in
    the week its first labelled batch is ingested (the run records it in ML Metadata and goes on)."""
    from pipeline.config import config_from_values
    from pipeline.metadata import connection, drift, records

    loop, _, _ = played
    config = config_from_values({"project": PROJECT, "models_dir": str(loop.root / "models"),
                                 "metadata_path": str(loop.root / "metadata.sqlite")})
    store = connection.open_metadata(config)
    runs = [run.name for run in records.run_contexts(store, config.pipeline_name)][-len(loop.rows):]
    recorded = {row.week: drift.run_drift(store, run) for row, run in zip(loop.rows, runs, strict=True)}
    for row in loop.rows:
        if row.week <= PLAN.shift_from:  # every span read so far is of clean weeks
            assert not recorded[row.week] and not row.run_drift(), [d.text() for d in recorded[row.week]]
    caught = recorded[PLAN.shift_from + 1]
    ran = loop.rows[PLAN.shift_from].outcomes["run"]
    assert {"fare", "payment_type"} & {d.feature for d in caught}, ran.out
    assert all(d.distance > d.threshold and d.baseline_span == d.span - 1 for d in caught)
    assert set(loop.rows[PLAN.shift_from].run_drift()) == {d.feature for d in caught}


def test_the_loop_learns_from_labels_and_promotes_a_model_of_the_shifted_data(played) -> None:
    """The issue's season: live metrics every week, no alert and no stop on the clean weeks, and
    a model trained on the shifted data serving `stable` within two weeks of the shift."""
    loop, weeks, _ = played
    for row in loop.rows[1:]:
        assert row.outcomes["feedback"].code in (0, 1), row.outcomes["feedback"].err
        live = json.loads(row.outcomes["feedback"].out)["models"]
        assert live and all(model["metrics"] for model in live), row.outcomes["feedback"].out
        assert row.outcomes["promote"].code in (0, 1), row.outcomes["promote"].err
    for row, week in zip(loop.rows, weeks, strict=True):
        if not week.shifted:
            assert row.outcomes["monitor"].code == 0, row.alerts()
        assert row.status("ingest") in ("-",) or row.status("ingest").startswith("span ")
    retrained = [int(m.group(1)) for row in loop.rows if row.week > PLAN.shift_from
                 if (m := re.fullmatch(r"pushed v(\d+)", row.status("run")))]
    deadline = next(row for row in loop.rows if row.week == PLAN.shift_from + 2)
    assert retrained and f"stable=v{retrained[0]}" in deadline.stable.split(", "), season.table(loop.rows)
