"""DataGate: stops the run before Transform on schema skew (broken data), records value skew and
drift on its output, and stops on drift only when the declaration asks for a human in the loop."""


import json
import os

from tfx import types
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts

from pipeline import vocabulary
from pipeline.config.project import DriftPolicy, Project
from pipeline.data import validation
from pipeline.errors import WorkFailed
from pipeline.vocabulary import (
    DRIFT_ACCEPTED_PROPERTY,
    DRIFT_PROPERTY,
    SPAN_PROPERTY,
    VALUE_SKEW_PROPERTY,
)


class DataValidationError(WorkFailed):
    """The input data broke the schema; the message lists each anomalous feature and why."""


class DriftStop(WorkFailed):
    """A feature drifted and the declaration says `validation: {drift: stop}`: a human decides."""


def _span(artifact: types.Artifact) -> int | None:
    """The span a validator recorded on its anomalies (set in a window of several spans)."""
    return artifact.get_int_custom_property(SPAN_PROPERTY) \
        if artifact.has_custom_property(SPAN_PROPERTY) else None


def span_verdict(
    anomalies: types.Artifact, statistics: types.Artifact, schema: object, project: Project
) -> validation.Verdict:
    """The one verdict (pipeline.data.validation.judge) of one span's splits, from the
    statistics and the anomalies its validator wrote; lines name the span in a window."""
    splits = artifact_utils.decode_split_names(anomalies.split_names)
    verdict = validation.judge(
        {split: validation.read_statistics(statistics.uri, split) for split in splits},
        schema, project.validation, validation.TRAINING,  # type: ignore[arg-type]
        found={split: validation.read_anomalies(anomalies.uri, split) for split in splits},
        project=project,
    )
    span = _span(anomalies)
    if span is not None:
        verdict.schema_skew = [f"span {span} {line}" for line in verdict.schema_skew]
        verdict.value_skew = [f"span {span} {line}" for line in verdict.value_skew]
    return verdict


def drift_records(anomalies: types.Artifact) -> list[dict]:
    """What ML Metadata keeps of each drift the span's validator recorded (the schema's
    comparators and every declared feature's calibrated distance): feature, measure, distance,
    threshold, split, span, the statistics it was measured against, and whether a human accepted
    it."""
    baseline = anomalies.get_string_custom_property("drift_baseline") \
        if anomalies.has_custom_property("drift_baseline") else "none"
    accepted = anomalies.has_custom_property(DRIFT_ACCEPTED_PROPERTY)
    measured = anomalies.get_json_value_custom_property(DRIFT_PROPERTY) \
        if anomalies.has_custom_property(DRIFT_PROPERTY) else []
    return [{**item, "span": _span(anomalies) if item.get("span") is None else item["span"],
             "baseline": baseline, "accepted": accepted} for item in measured or []]


@component
def DataGate(  # TFX names components like classes
    anomalies: InputArtifact[
        list[standard_artifacts.ExampleAnomalies]
    ],
    statistics: InputArtifact[
        list[standard_artifacts.ExampleStatistics]
    ],
    schema: InputArtifact[standard_artifacts.Schema],
    validated_schema: OutputArtifact[standard_artifacts.Schema],
    project: Parameter[str],
) -> None:
    """Stop before Transform on schema skew in any span (a type change, a missing column, too
    many empty or unknown cells, a label that cannot train); record value skew and drift on the
    validated schema; stop on unaccepted drift only under `validation: {drift: stop}`."""
    declaration = Project.from_dict(json.loads(project))
    schema_proto = validation.read_schema(schema.uri)
    verdict, drift = validation.Verdict(), []
    for found, computed in zip(anomalies, statistics, strict=True):
        verdict.extend(span_verdict(found, computed, schema_proto, declaration))
        drift += drift_records(found)
    if verdict.stops:
        raise DataValidationError(
            f"{len(verdict.schema_skew)} data anomalies, stopping before Transform:\n  "
            + "\n  ".join(verdict.schema_skew))
    validated_schema.set_json_value_custom_property(VALUE_SKEW_PROPERTY, verdict.value_skew)
    validated_schema.set_json_value_custom_property(DRIFT_PROPERTY, drift)
    unaccepted = [d for d in drift if not d["accepted"]]
    if declaration.validation.drift is DriftPolicy.STOP and unaccepted:
        raise DriftStop(
            f"{len(unaccepted)} drifted feature(s), stopping before Transform (validation.drift: "
            "stop):\n  " + "\n  ".join(_drift_line(d) for d in unaccepted)
            + f"\n  accept it and go on: python -m pipeline accept-drift --project {declaration.name}")
    fileio.copy(os.path.join(schema.uri, vocabulary.SCHEMA_FILE),
                os.path.join(validated_schema.uri, vocabulary.SCHEMA_FILE), overwrite=True)


def _drift_line(drift: dict) -> str:
    """'span N <split>: feature 'x': <measure> distance d above threshold t'."""
    span = f"span {drift['span']} " if drift["span"] is not None else ""
    return (f"{span}{drift['split']}: feature '{drift['feature']}': {drift['measure']} distance "
            f"{drift['distance']:.4g} above threshold {drift['threshold']:.4g}")
