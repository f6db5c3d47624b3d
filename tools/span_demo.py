"""Demo tooling: realistic new spans resampled from the bundled taxi data, optionally drifted."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
import sys
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import PROJECT_ROOT
from pipeline.data.spans import SPAN_FILE, span_dir
from tools import taxi as features


@dataclass(frozen=True)
class Drift:
    """How a generated span departs from the source: a category mix shift and scaled fares."""

    moved_fraction: float = 0.0
    fare_factor: float = 1.0


NO_DRIFT = Drift()


DEMO_DRIFT = Drift(moved_fraction=0.9, fare_factor=1.5)


def read_rows(source: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a CSV file."""
    with source.open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _shift_time(row: dict[str, str], days: int) -> None:
    """Move the trip start by whole days and re-derive month, weekday and hour from it."""
    stamp = row.get(features.TIMESTAMP_KEY, "")
    if not stamp:
        return
    start = dt.datetime.fromtimestamp(int(stamp), tz=dt.timezone.utc) + dt.timedelta(days=days)
    row[features.TIMESTAMP_KEY] = str(int(start.timestamp()))
    row[features.MONTH_KEY] = str(start.month)
    row[features.WEEKDAY_KEY] = str(start.isoweekday() % 7 + 1)
    row[features.HOUR_KEY] = str(start.hour)


def _apply_drift(row: dict[str, str], drift: Drift, rng: random.Random) -> None:
    """Shift the payment mix and scale fares (tips keep their amount, so tipping looks rarer)."""
    if row.get(features.PAYMENT_TYPE_KEY) == features.DRIFT_FROM_VALUE:
        if rng.random() < drift.moved_fraction:
            row[features.PAYMENT_TYPE_KEY] = features.DRIFT_TO_VALUE
    if row.get(features.FARE_KEY) and drift.fare_factor != 1.0:
        row[features.FARE_KEY] = f"{float(row[features.FARE_KEY]) * drift.fare_factor:.2f}"


def generate_rows(
    source: Path, count: int, seed: int, days: int, drift: Drift = NO_DRIFT
) -> tuple[list[str], list[dict[str, str]]]:
    """`count` rows resampled with a seed from the source, shifted by `days`, maybe drifted."""
    header, rows = read_rows(source)
    rng = random.Random(seed)
    sampled = [dict(rng.choice(rows)) for _ in range(count)]
    for row in sampled:
        _shift_time(row, days)
        _apply_drift(row, drift, rng)
    return header, sampled


def write_rows(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    """Write rows as CSV with the given header order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_span(data_dir: Path, span: int, header: list[str], rows: list[dict[str, str]]) -> Path:
    """Write a span folder directly (building demo and test data dirs; ingest validates instead)."""
    return write_rows(span_dir(data_dir, span) / SPAN_FILE, header, rows)


def _training_only_columns() -> set[str]:
    """Columns absent from serving requests: the label sources only training data has."""
    return {features.TIPS_KEY}


def _generate_span(args: argparse.Namespace) -> int:
    """Write a resampled, time-shifted (optionally drifted) CSV for `ingest` or `monitor`."""
    drift = DEMO_DRIFT if args.drift else NO_DRIFT
    header, rows = generate_rows(args.source, args.rows, args.seed, args.days, drift)
    if args.serving:
        header = [c for c in header if c not in _training_only_columns()]
    write_rows(args.output, header, [{c: r[c] for c in header} for r in rows])
    print(f"wrote {len(rows)} rows to {args.output}" + (" (drifted)" if args.drift else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m tools.span_demo OUTPUT`: write a new realistic span CSV."""
    generate = argparse.ArgumentParser(prog="python -m tools.span_demo", description=__doc__)
    generate.add_argument("output", type=Path)
    generate.add_argument("--source", type=Path, default=PROJECT_ROOT / "data" / "taxi" / "data.csv")
    generate.add_argument("--rows", type=int, default=250)
    generate.add_argument("--seed", type=int, default=1)
    generate.add_argument("--days", type=int, default=7, help="shift trip start times by days")
    generate.add_argument("--drift", action="store_true", help="shift payment mix, scale fares")
    generate.add_argument("--serving", action="store_true", help="drop label columns (requests)")
    return _generate_span(generate.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
