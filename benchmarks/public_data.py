"""Public tabular datasets for the quality table: files bundled inside scikit-learn's PyPI wheel
(sklearn/datasets/data/), so the benchmark downloads nothing. Each is written as one CSV a new user
would hand to `init`; the derived tasks and columns are documented here and in docs/performance.md.

- digits_zero: binary, rare positive class: is the handwritten digit a 0 (178 of 1,797 rows, 9.9 %)?
  The 64 inputs are counts (pixels on in a 4x4 block of the 32x32 bitmap, 0..16).
- digits: multi-class (10 digits) on the same 64 count columns.
- wine: multi-class (3 cultivars), 13 chemical measurements, 178 rows.
- diabetes: regression (disease progression after one year), the raw (unscaled) 10 inputs, 442 rows.
- breast_cancer: binary (malignant, 37 %), 30 measurements with near-duplicates of their own (mean
  radius, perimeter and area: |r| 0.987..0.998) plus two derived, documented ones of the kind a
  real extract carries: `mean_diameter` (twice the mean radius, the same length in another form)
  and `mean_area_mm2` (the mean area in another unit, rounded to 0.01: a deterministic function).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

# Square millimetres per square pixel unit of the digitised images, for the derived unit column.
AREA_UNIT = 0.0121


@dataclass(frozen=True)
class PublicDataset:
    """A dataset of the quality table: its label column, what it covers and how to build it."""

    name: str
    label: str
    covers: str
    build: Callable[[], pd.DataFrame]

    def write_csv(self, folder: Path) -> Path:
        """The dataset as <folder>/<name>.csv (the folder holds nothing else: `init --data` reads it)."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.name}.csv"
        self.build().to_csv(path, index=False)
        return path


def _snake(name: str) -> str:
    """A column name as a declaration names a feature: lower case words joined by '_'."""
    return "_".join(re.findall(r"[a-z0-9]+", name.lower()))


def _digit_pixels() -> tuple[pd.DataFrame, pd.Series]:
    """The 64 count columns of the digits (named by row and column of the 8x8 grid) and the digit."""
    from sklearn.datasets import load_digits

    bunch = load_digits(as_frame=True)
    pixels = bunch.data.astype(int)
    pixels.columns = [f"pixel_{i // 8}_{i % 8}" for i in range(pixels.shape[1])]
    return pixels, bunch.target


def digits_zero() -> pd.DataFrame:
    """Binary with a rare positive class: is_zero is 1 for the digit 0 (about 10 % of rows)."""
    pixels, digit = _digit_pixels()
    return pixels.assign(is_zero=(digit == 0).astype(int))


def digits() -> pd.DataFrame:
    """Multi-class: which of ten digits, from 64 count columns."""
    pixels, digit = _digit_pixels()
    return pixels.assign(digit=digit.astype(int))


def wine() -> pd.DataFrame:
    """Multi-class: the cultivar (class_0..class_2) from chemical measurements."""
    from sklearn.datasets import load_wine

    bunch = load_wine(as_frame=True)
    frame = bunch.data.rename(columns=_snake)
    return frame.assign(cultivar=[f"class_{t}" for t in bunch.target])


def diabetes() -> pd.DataFrame:
    """Regression: disease progression from the raw (unscaled) measurements."""
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(as_frame=True, scaled=False)
    return bunch.data.assign(progression=bunch.target)


def breast_cancer() -> pd.DataFrame:
    """Binary with near-duplicate columns: the diagnosis from 30 measurements and two derived
    columns that repeat the mean radius and area (module docstring)."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.data.rename(columns=_snake)
    frame = frame.assign(mean_diameter=2 * frame["mean_radius"],
                         mean_area_mm2=(frame["mean_area"] * AREA_UNIT).round(2))
    # sklearn's target is 1 for benign; the CSV names the classes as a hospital extract would.
    return frame.assign(diagnosis=["benign" if t else "malignant" for t in bunch.target])


DATASETS: dict[str, PublicDataset] = {d.name: d for d in (
    PublicDataset("digits_zero", "is_zero", "binary, rare positive class (9.9 %), count columns",
                  digits_zero),
    PublicDataset("digits", "digit", "multi-class (10), count columns", digits),
    PublicDataset("wine", "cultivar", "multi-class (3), 178 rows", wine),
    PublicDataset("diabetes", "progression", "regression, 442 rows", diabetes),
    PublicDataset("breast_cancer", "diagnosis", "binary (37 % positive), near-duplicate columns",
                  breast_cancer),
)}
