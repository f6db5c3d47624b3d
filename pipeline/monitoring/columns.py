"""What monitoring watches, and the values of the watched features in a CSV window of production
data, summarised (the training examples' summaries: pipeline.data.summaries)."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline.config.project import Project
from pipeline.data import drift
from pipeline.data.summaries import Column, Summaries, feature_kinds, summarise


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
        kinds = feature_kinds(project)
        optional = {
            **{name: "the label's source" for name in project.label_columns},
            project.label: "the label (live metrics: feedback)",
            **({project.id_column: "the id column"} if project.id_column else {}),
            **{name: f"excluded: {why}" for name, why in project.excluded.items()},
        }
        # A label source may also be a feature: then it is required and compared.
        return cls(kinds, {k: v for k, v in optional.items() if k not in kinds},
                   project.drift_thresholds)


def window_summaries(csv_path: Path, watched: Watched) -> tuple[Summaries, list[str]]:
    """Each watched column of a CSV window summarised, and the watched columns it lacks."""
    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        header = [name.strip() for name in reader.fieldnames or []]
        present = [name for name in watched.features if name in header]
        values: dict[str, Column] = {name: [] for name in present}
        for row in reader:
            row = {(k or "").strip(): v for k, v in row.items()}
            for name in present:
                text = (row.get(name) or "").strip()
                values[name].append(text or None)
    missing = [name for name in watched.features if name not in header]
    return {name: summarise(watched.features[name], column)
            for name, column in values.items()}, missing
