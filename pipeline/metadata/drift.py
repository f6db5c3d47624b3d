"""Drift a run's validators measured between spans, and whether a human accepted it, as ML
Metadata recorded it on their anomalies (pipeline.graph.span_validator, `accept-drift`)."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.metadata import records
from pipeline.metadata.connection import Artifact, Store
from pipeline.vocabulary import (
    ANOMALIES_KEY,
    DRIFT_ACCEPTED_PROPERTY,
    DRIFT_PROPERTY,
    EXAMPLE_VALIDATOR,
    SPAN_PROPERTY,
)


@dataclass(frozen=True)
class DriftRecord:
    """One feature of one span and split whose distance to the previous span crossed its
    threshold."""

    feature: str
    measure: str
    distance: float
    threshold: float
    split: str
    span: int | None
    baseline: str
    accepted: bool
    # The span it was measured against (calibrated drift of declared features; None for the
    # schema's comparators, whose baseline is only the statistics' URI).
    baseline_span: int | None = None

    def text(self) -> str:
        """'<feature> <measure> <distance> > <threshold> (span N[ vs M] <split>[, accepted])'."""
        span = f"span {self.span} " if self.span is not None else ""
        against = f"vs {self.baseline_span} " if self.baseline_span is not None else ""
        accepted = ", accepted" if self.accepted else ""
        return (f"{self.feature} {self.measure} {self.distance:.3g} > {self.threshold:.3g} "
                f"({span}{against}{self.split}{accepted})")


def drift_anomalies(store: Store, run_id: str) -> list[Artifact]:
    """The anomalies artifacts of a run's validators that recorded a drift."""
    found = []
    for component in records.component_runs(store, run_id):
        if not component.node_id.startswith(EXAMPLE_VALIDATOR):
            continue
        found += [a for a in component.outputs.get(ANOMALIES_KEY, [])
                  if records.struct_property(a, DRIFT_PROPERTY)]
    return found


def run_drift(store: Store, run_id: str) -> list[DriftRecord]:
    """Every drift a run measured, in the order its validators ran."""
    drifts = []
    for artifact in drift_anomalies(store, run_id):
        measured = records.struct_property(artifact, DRIFT_PROPERTY)
        for item in measured if isinstance(measured, list) else []:
            drifts.append(DriftRecord(
                feature=str(item["feature"]), measure=str(item["measure"]),
                distance=float(item["distance"]), threshold=float(item["threshold"]),
                split=str(item["split"]),
                span=_optional_int(item.get("span", records.int_property(artifact, SPAN_PROPERTY))),
                baseline=str(records.string_property(artifact, "drift_baseline") or "none"),
                accepted=DRIFT_ACCEPTED_PROPERTY in artifact.custom_properties,
                baseline_span=_optional_int(item.get("baseline_span")),
            ))
    return drifts


def _optional_int(value: object) -> int | None:
    """A recorded span (JSON numbers come back as floats), or None."""
    return None if value is None else int(float(str(value)))
