"""Small generated CSV data sets for `init` and profiling tests: a multiclass and a regression
table, and a writer (None is an empty cell)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def write_csv(path: Path, columns: dict[str, list]) -> Path:
    """A CSV file of the columns (None is an empty cell); returns its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(columns)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for row in zip(*columns.values(), strict=True):
            writer.writerow(["" if v is None else v for v in row])
    return path


def multiclass_columns(rows: int = 300, seed: int = 1) -> dict[str, list]:
    """Iris-like data: a three-class label, two numbers and a two-value category."""
    rng = np.random.default_rng(seed)
    species = rng.choice(["setosa", "versicolor", "virginica"], rows, p=[0.5, 0.3, 0.2])
    length = rng.normal(5, 1, rows) + (species == "virginica")
    return {
        "length": length.round(3).tolist(),
        "width": rng.normal(3, 0.5, rows).round(3).tolist(),
        "color": rng.choice(["red", "blue"], rows).tolist(),
        "species": species.tolist(),
    }


def regression_columns(rows: int = 300, seed: int = 2) -> dict[str, list]:
    """House-price-like data: a numeric label from a size, a region and a floor."""
    rng = np.random.default_rng(seed)
    size = rng.normal(80, 20, rows)
    region = rng.choice(["north", "south", "east"], rows)
    price = 3 * size + 40 * (region == "north") + rng.normal(0, 30, rows)
    return {
        "size": size.round(1).tolist(),
        "region": region.tolist(),
        "floor": rng.integers(0, 10, rows).tolist(),
        "price": price.round(2).tolist(),
    }
