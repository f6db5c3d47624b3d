"""The season's generated data (tests/support/season.py) has the growth, shift and label delay the
season test relies on, measured on the files it writes."""

from __future__ import annotations

import csv
from pathlib import Path
from statistics import mean, median

import pytest

from tests.support import season

pytestmark = pytest.mark.taxi
PLAN = season.Plan()


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], list[season.Week]]:
    first, weeks = season.generate(tmp_path_factory.mktemp("season"), PLAN)
    return read(first), weeks


def share(rows: list[dict], payment: str) -> float:
    return sum(r["payment_type"] == payment for r in rows) / len(rows)


def test_batches_carry_no_label_and_labels_come_as_their_own_file(generated) -> None:
    first, weeks = generated
    assert list(first[0]) == [season.ID, *season.FEATURES, season.LABEL]
    ids = [r[season.ID] for r in first]
    for week in weeks:
        batch, labels, labelled = read(week.batch), read(week.labels), read(week.labelled)
        assert list(batch[0]) == [season.ID, *season.FEATURES]
        assert list(labels[0]) == [season.ID, season.LABEL]
        assert [r[season.ID] for r in labels] == [r[season.ID] for r in batch]
        pairs = zip(batch, labels, strict=True)
        assert labelled == [{**b, season.LABEL: lab[season.LABEL]} for b, lab in pairs]
        ids += [r[season.ID] for r in batch]
    assert len(ids) == len(set(ids)) == PLAN.rows * (PLAN.weeks + 1)


def test_every_week_grows_past_the_first_span_and_one_brings_a_rare_category(generated) -> None:
    first, weeks = generated
    top = max(float(r["fare"]) for r in first)
    for week in weeks:
        rows = read(week.labelled)
        assert max(float(r["fare"]) for r in rows) > top
        new = [r for r in rows if r["payment_type"] not in {f["payment_type"] for f in first}]
        assert len(new) == (2 if week.number == PLAN.new_category_week else 0)
        assert week.new_category == (week.number == PLAN.new_category_week)


def test_the_shift_lasts_from_its_week_on_and_changes_what_the_label_means(generated) -> None:
    first, weeks = generated
    clean = [r for w in weeks if not w.shifted for r in read(w.labelled)]
    assert [w.number for w in weeks if w.shifted] == list(range(PLAN.shift_from, PLAN.weeks + 1))
    for week in (w for w in weeks if w.shifted):
        rows = read(week.labelled)
        assert median(float(r["fare"]) for r in rows) > 1.4 * median(float(r["fare"]) for r in clean)
        assert share(rows, season.CASH) - share(clean, season.CASH) == pytest.approx(0.30, abs=0.08)
        long_cash = [r for r in rows if r["payment_type"] == season.CASH and float(r["trip_miles"]) > 2]
        assert long_cash and all(r[season.LABEL] == "1" for r in long_cash)
    clean_long_cash = [r for r in clean if r["payment_type"] == season.CASH and float(r["trip_miles"]) > 2]
    assert mean(int(r[season.LABEL]) for r in clean_long_cash) < 0.2
