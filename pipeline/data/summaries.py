"""The values of a project's declared features, summarised for pipeline.data.drift: each feature's
kind, its values in tf.Examples (as ExampleGen wrote them) or text cells, and the calibrated
drift between two spans. TF-free at import: TensorFlow only inside the reading of examples."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.config.project import DriftThresholds, Project, Treatment
from pipeline.data import drift
from pipeline.data.example_batches import decoded_batches
from pipeline.metadata import artifact_files
from pipeline.vocabulary import split_folder

# Rows read per split at most: enough for any quantile grid and share, bounded memory.
MAX_TRAINING_ROWS = 200_000
CATEGORICAL_TREATMENTS = (Treatment.CATEGORICAL, Treatment.VOCABULARY, Treatment.HASHED)

Summaries = dict[str, drift.Distribution]
# A feature's values, one per row: a number or text, None where the row has none.
Column = list[float | str | None]


def feature_kinds(project: Project) -> dict[str, drift.Kind]:
    """The project's declared features, categorical by treatment (integer codes included)."""
    return {f.name: drift.Kind.CATEGORICAL if f.treatment in CATEGORICAL_TREATMENTS
            else drift.Kind.NUMERIC for f in project.features}


def example_columns(examples_uris: Sequence[str], split: str, names: Sequence[str]) -> dict[str, Column]:
    """The values of `names` in the examples of one split of Examples artifacts (every span
    given), up to MAX_TRAINING_ROWS rows: each row's first value, None where it has none."""
    values: dict[str, Column] = {name: [] for name in names}
    for batch in _record_batches(examples_uris, split):
        for name, column in values.items():
            found = batch.schema.get_field_index(name)
            column.extend(_first_values(batch.column(found)) if found >= 0
                          else [None] * batch.num_rows)
    return values


def example_summaries(
    examples_uris: Sequence[str], split: str, kinds: Mapping[str, drift.Kind],
) -> Summaries:
    """Each feature of `kinds` present in the examples of `split`, summarised; a feature with no
    value at all is left out."""
    columns = example_columns(examples_uris, split, list(kinds))
    return {name: summarise(kinds[name], column)
            for name, column in columns.items() if any(v is not None for v in column)}


def _record_batches(examples_uris: Sequence[str], split: str) -> Iterator[pa.RecordBatch]:
    """The tf.Examples of one split of Examples artifacts, up to MAX_TRAINING_ROWS, decoded a
    batch at a time (a column per feature, a list per row)."""
    files = [path for uri in examples_uris
             for path in artifact_files.glob(os.path.join(uri, split_folder(split)), "*")]
    return decoded_batches(files, MAX_TRAINING_ROWS)


def _first_values(lists: pa.Array) -> Column:
    """Each row's first value as a number or text (bytes decoded as UTF-8, invalid bytes
    replaced); None where the row has none."""
    if pa.types.is_null(lists.type):
        return [None] * len(lists)
    present = pc.fill_null(pc.greater(pc.list_value_length(lists), 0), False).to_numpy(
        zero_copy_only=False)
    starts = lists.offsets.to_numpy()[:-1][present]
    firsts = lists.values.take(pa.array(starts)).to_pylist()
    if pa.types.is_large_binary(lists.type.value_type) or pa.types.is_binary(
            lists.type.value_type):
        firsts = [value.decode("utf-8", errors="replace") for value in firsts]
    column: Column = [None] * len(lists)
    for row, value in zip(np.flatnonzero(present).tolist(), firsts, strict=True):
        column[row] = value
    return column


def summarise(kind: drift.Kind, column: Sequence[float | str | None]) -> drift.Distribution:
    """A numeric or categorical summary; text that is no number counts as missing for a number."""
    if kind is drift.Kind.NUMERIC:
        return drift.numeric(_numbers(column))
    return drift.from_counts(_category_counts(column))


def _numbers(column: Sequence[float | str | None]) -> np.ndarray:
    """The column's finite numbers in row order; numpy converts numbers and None (NaN) as
    float() does, text goes through _number."""
    if any(isinstance(value, str) for value in column):
        return np.asarray([n for v in column if (n := _number(v)) is not None], dtype=float)
    array = np.asarray(column, dtype=float)
    return array[np.isfinite(array)]


def _category_counts(column: Sequence[float | str | None]) -> dict[str, int]:
    """Rows per category text, in order of first appearance; each distinct value is spelled
    once (values equal in Python, such as 1 and 1.0, have one spelling)."""
    counts: dict[str, int] = {}
    for value, count in Counter(column).items():
        if value is not None:
            text = category_text(value)
            counts[text] = counts.get(text, 0) + count
    return counts


def _number(value: float | str | None) -> float | None:
    """A finite float, or None."""
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and number == number and abs(number) != float("inf") \
        else None


def category_text(value: float | str) -> str:
    """One spelling per category: an integer code as its digits ("3", "3.0" and 3 alike)."""
    number = _number(value)
    if number is not None and number.is_integer():
        return str(int(number))
    return str(value)


@dataclass(frozen=True)
class SpanCheck(drift.Drift):
    """One declared feature compared between two spans (every split of each, pooled), with the
    rows it had in each."""

    rows: int
    baseline_rows: int

    def record(self) -> dict[str, object]:
        """JSON-ready form, recorded in ML Metadata by the span's validator."""
        return {"feature": self.feature, "measure": drift.DISTANCE_NAMES[self.kind],
                "distance": self.value, "threshold": self.threshold.value,
                "noise": self.threshold.noise, "split_distance": self.threshold.split,
                "rows": self.rows, "baseline_rows": self.baseline_rows, "crossed": self.crossed}


def span_drift(
    previous: Mapping[str, Mapping[str, Column]], current: Mapping[str, Mapping[str, Column]],
    kinds: Mapping[str, drift.Kind], settings: DriftThresholds,
) -> tuple[list[SpanCheck], dict[str, str]]:
    """Each feature of `kinds` in the `current` span (split: feature: values) against the
    `previous` span, and the features that cannot be compared with the reason.

    Calibrated as `monitor` is (pipeline.data.drift.threshold): the noise of two honest samples
    at both spans' sizes, or the previous span's own train/eval distance when larger, times the
    declared factor. The honest samples are drawn from both spans pooled: if nothing changed they
    are one distribution, and the pool knows a rare value either span alone may lack."""
    checks: list[SpanCheck] = []
    unmonitored: dict[str, str] = {}
    for name, kind in kinds.items():
        before = [v for columns in previous.values() for v in columns.get(name, [])]
        now = [v for columns in current.values() for v in columns.get(name, [])]
        reference, window = summarise(kind, before), summarise(kind, now)
        if not reference.rows or not window.rows:
            unmonitored[name] = f"no value in the {'previous' if not reference.rows else 'new'} span"
            continue
        limit = drift.threshold(summarise(kind, before + now), window.rows, settings,
                                reference_rows=reference.rows,
                                split_distance=_split_distance(kind, name, previous))
        checks.append(SpanCheck(name, kind, drift.distance(reference, window), limit,
                                rows=window.rows, baseline_rows=reference.rows))
    return checks, unmonitored


def _split_distance(kind: drift.Kind, name: str, span: Mapping[str, Mapping[str, Column]]) -> float:
    """The largest distance between the first split of a span and each other one (0 with one)."""
    parts = [summarise(kind, columns.get(name, [])) for columns in span.values()]
    parts = [part for part in parts if part.rows]
    return max((drift.distance(parts[0], part) for part in parts[1:]), default=0.0)
