"""Synthetic taxi data at N times the bundled rows, for the scaling benchmarks.

Rows are resampled with replacement (so the joint distribution of categories, hours and missing
values is the bundled one) and numeric columns are jittered: fare, trip length, duration and tips
share one multiplicative factor per row, so the tip fraction (and with it the label) is kept, and
coordinates move by about 300 m. Every jittered value stays inside the range seen in the source,
so the curated schema accepts the output. Seeded: the same arguments give the same bytes.

    python -m tools.synthesize --scale 10 --output state/bench/data/x10
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tools import taxi as features

SOURCE = Path(__file__).resolve().parents[1] / "data" / "taxi" / "data.csv"
# Columns that grow with the trip; one shared factor keeps tips / fare unchanged.
TRIP_SCALED_KEYS: tuple[str, ...] = features.DENSE_FLOAT_FEATURE_KEYS + (features.TIPS_KEY,)
TRIP_FACTOR_SIGMA = 0.1
COORDINATE_KEYS: tuple[str, ...] = features.BUCKET_FEATURE_KEYS
COORDINATE_SIGMA = 0.003
MAX_DECIMALS = 6
CHUNK_ROWS = 100_000


class SynthesisError(ValueError):
    """The source file cannot be synthesized from; the message names the file and column."""


@dataclass(frozen=True)
class NumericColumn:
    """A jittered column: its values (NaN when empty), how to print them and its observed range."""

    index: int
    values: np.ndarray
    is_int: bool
    decimals: int
    low: float
    high: float


def read_source(path: Path) -> tuple[list[str], np.ndarray]:
    """Header and cells (as a 2-D array of strings) of a CSV file."""
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header:
            raise SynthesisError(f"{path} is empty")
        rows = [row for row in reader if row]
    bad = next((n for n, row in enumerate(rows, 2) if len(row) != len(header)), None)
    if bad is not None:
        raise SynthesisError(f"{path} line {bad}: expected {len(header)} cells")
    if not rows:
        raise SynthesisError(f"{path} has a header but no rows")
    return header, np.array(rows, dtype=object)


def numeric_column(path: Path, header: list[str], cells: np.ndarray, key: str) -> NumericColumn:
    """Parse one column to floats, remembering whether it holds integers and how many decimals."""
    if key not in header:
        raise SynthesisError(f"{path} has no column '{key}'")
    index = header.index(key)
    texts = cells[:, index]
    present = texts != ""
    try:
        values = np.where(present, texts, "nan").astype(float)
    except ValueError as error:
        raise SynthesisError(f"{path} column '{key}' is not numeric: {error}") from error
    if not present.any():
        raise SynthesisError(f"{path} column '{key}' has no values")
    shown = texts[present]
    decimals = max(len(t.partition(".")[2]) for t in shown)
    return NumericColumn(
        index=index,
        values=values,
        is_int=all("." not in t and "e" not in t.lower() for t in shown),
        decimals=min(decimals, MAX_DECIMALS),
        low=float(np.nanmin(values)),
        high=float(np.nanmax(values)),
    )


def format_values(column: NumericColumn, values: np.ndarray) -> np.ndarray:
    """Strings as the source writes them: integers stay integers, empty stays empty."""
    unit = 10.0 ** -column.decimals
    # Rounded inward, so printing with `decimals` never leaves the observed range.
    low, high = np.ceil(column.low / unit) * unit, np.floor(column.high / unit) * unit
    clipped = np.clip(values, low, high)
    pattern = "%d" if column.is_int else f"%.{column.decimals}f"
    finite = np.isfinite(clipped)
    text = np.full(values.shape, "", dtype=object)
    shown = np.rint(clipped[finite]) if column.is_int else clipped[finite]
    text[finite] = np.char.mod(pattern, shown)
    return text


def jittered_chunks(
    cells: np.ndarray, trip: list[NumericColumn], coordinates: list[NumericColumn],
    rows: int, seed: int,
) -> Iterator[np.ndarray]:
    """Resampled, jittered rows in chunks, so 100x the data never sits in memory at once."""
    rng = np.random.default_rng(seed)
    remaining = rows
    while remaining > 0:
        size = min(CHUNK_ROWS, remaining)
        picked = rng.integers(0, len(cells), size)
        chunk = cells[picked].copy()
        factor = rng.lognormal(0.0, TRIP_FACTOR_SIGMA, size)
        for column in trip:
            chunk[:, column.index] = format_values(column, column.values[picked] * factor)
        for column in coordinates:
            shift = rng.normal(0.0, COORDINATE_SIGMA, size)
            chunk[:, column.index] = format_values(column, column.values[picked] + shift)
        remaining -= size
        yield chunk


def synthesize(output: Path, scale: float, seed: int = 42, source: Path = SOURCE) -> int:
    """Write output/data.csv with round(scale * source rows) rows; returns the row count."""
    if scale <= 0:
        raise SynthesisError(f"scale must be > 0, got {scale}")
    header, cells = read_source(source)
    trip = [numeric_column(source, header, cells, key) for key in TRIP_SCALED_KEYS]
    coordinates = [numeric_column(source, header, cells, key) for key in COORDINATE_KEYS]
    rows = max(1, round(scale * len(cells)))
    output.mkdir(parents=True, exist_ok=True)
    partial = output / "data.csv.partial"
    with partial.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        for chunk in jittered_chunks(cells, trip, coordinates, rows, seed):
            writer.writerows(chunk.tolist())
    partial.rename(output / "data.csv")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: write the synthetic file and say how many rows it has."""
    parser = argparse.ArgumentParser(prog="python -m tools.synthesize", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, required=True, help="rows, times the source's")
    parser.add_argument("--output", type=Path, required=True, help="folder to write data.csv into")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--source", type=Path, default=SOURCE, help="CSV to resample")
    args = parser.parse_args(argv)
    try:
        rows = synthesize(args.output, args.scale, args.seed, args.source)
    except (SynthesisError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {rows} rows to {args.output / 'data.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
