"""The values of the watched features, summarised: in the served model's training examples (train
and eval splits, as ExampleGen wrote them) and in a CSV window of production data."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.config.project import Project, Treatment
from pipeline.data import drift
from pipeline.metadata import artifact_files
from pipeline.vocabulary import split_folder

# Training rows read per split at most: enough for any quantile grid and share, bounded memory.
MAX_TRAINING_ROWS = 200_000
CATEGORICAL_TREATMENTS = (Treatment.CATEGORICAL, Treatment.VOCABULARY, Treatment.HASHED)


@dataclass(frozen=True)
class Watched:
    """What monitoring compares: each declared feature and its kind; the declared columns a
    production window may lack (excluded ones, the label and its sources, the id column); the
    declared calibration."""

    features: Mapping[str, drift.Kind]
    not_required: Mapping[str, str]  # column: why it is neither required nor compared
    thresholds: drift.DriftThresholds

    @classmethod
    def from_project(cls, project: Project) -> Watched:
        """The project's declared features, categorical by treatment (integer codes included)."""
        kinds = {f.name: drift.Kind.CATEGORICAL if f.treatment in CATEGORICAL_TREATMENTS
                 else drift.Kind.NUMERIC for f in project.features}
        optional = {
            **{name: "the label's source" for name in project.label_columns},
            project.label: "the label (live metrics: feedback)",
            **({project.id_column: "the id column"} if project.id_column else {}),
            **{name: f"excluded: {why}" for name, why in project.excluded.items()},
        }
        # A label source may also be a feature: then it is required and compared.
        return cls(kinds, {k: v for k, v in optional.items() if k not in kinds},
                   project.drift_thresholds)


Summaries = dict[str, drift.Distribution]


def training_summaries(examples_uris: Sequence[str], split: str, watched: Watched) -> Summaries:
    """Each watched feature present in the examples of `split` (every span of the run), summarised;
    a feature with no value at all is left out."""
    values: dict[str, list[float | str | None]] = {name: [] for name in watched.features}
    for example in _examples(examples_uris, split):
        features = example.features.feature
        for name, column in values.items():
            column.append(_example_value(features[name]) if name in features else None)
    return {name: _summary(watched.features[name], column)
            for name, column in values.items() if any(v is not None for v in column)}


def _examples(examples_uris: Sequence[str], split: str) -> Iterator:
    """The tf.Examples of one split of Examples artifacts, up to MAX_TRAINING_ROWS."""
    import tensorflow as tf

    files = [path for uri in examples_uris
             for path in artifact_files.glob(os.path.join(uri, split_folder(split)), "*")]
    if not files:
        return
    records = tf.data.TFRecordDataset(files, compression_type="GZIP").take(MAX_TRAINING_ROWS)
    for record in records.as_numpy_iterator():
        yield tf.train.Example.FromString(record)


def _example_value(feature) -> float | str | None:  # a tf.train.Feature
    """The first value of a tf.train.Feature as a number or text; None when it has none."""
    kind = feature.WhichOneof("kind")
    values = getattr(feature, kind).value if kind else []
    if not values:
        return None
    value = values[0]
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def window_summaries(csv_path: Path, watched: Watched) -> tuple[Summaries, list[str]]:
    """Each watched column of a CSV window summarised, and the watched columns it lacks."""
    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        header = [name.strip() for name in reader.fieldnames or []]
        present = [name for name in watched.features if name in header]
        values: dict[str, list[str | None]] = {name: [] for name in present}
        for row in reader:
            row = {(k or "").strip(): v for k, v in row.items()}
            for name in present:
                text = (row.get(name) or "").strip()
                values[name].append(text or None)
    missing = [name for name in watched.features if name not in header]
    return {name: _summary(watched.features[name], column)
            for name, column in values.items()}, missing


def _summary(kind: drift.Kind, column: Sequence[float | str | None]) -> drift.Distribution:
    """A numeric or categorical summary; text that is no number counts as missing for a number."""
    if kind is drift.Kind.NUMERIC:
        return drift.numeric(number for v in column if (number := _number(v)) is not None)
    return drift.categorical(None if v is None else category_text(v) for v in column)


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
