"""DataGate: stops the run before Transform when any validation found an anomaly."""


import os

from tensorflow_data_validation.utils import anomalies_util
from tfx import types
from tfx import v1 as tfx
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from pipeline.errors import WorkFailed

SCHEMA_FILE = "schema.pbtxt"
ANOMALIES_FILE = "SchemaDiff.pb"


SPAN_PROPERTY = "span"


class DataValidationError(WorkFailed):
    """The input data broke the schema; the message lists each anomalous feature and why."""


def describe_anomalies(anomalies_uri: str, split_names: list[str]) -> list[str]:
    """One line per anomalous feature and split: '<split>: <feature>: <reason>'."""
    lines = []
    for split in split_names:
        path = os.path.join(anomalies_uri, f"Split-{split}", ANOMALIES_FILE)
        anomalies = anomalies_util.load_anomalies_binary(path)
        for feature, info in sorted(anomalies.anomaly_info.items()):
            reasons = "; ".join(r.description or r.short_description for r in info.reason)
            lines.append(f"{split}: feature '{feature}': {reasons}")
        if anomalies.HasField("dataset_anomaly_info"):
            reasons = "; ".join(r.description for r in anomalies.dataset_anomaly_info.reason)
            lines.append(f"{split}: dataset: {reasons}")
    return lines


def window_problems(anomalies: list[types.Artifact]) -> list[str]:
    """Every anomaly of every span's validation; prefixed with 'span N' when the span is known."""
    problems = []
    for artifact in anomalies:
        splits = artifact_utils.decode_split_names(artifact.split_names)
        span = (
            artifact.get_int_custom_property(SPAN_PROPERTY)
            if artifact.has_custom_property(SPAN_PROPERTY) else None
        )
        prefix = f"span {span} " if span is not None else ""
        problems += [prefix + line for line in describe_anomalies(artifact.uri, splits)]
    return problems


@tfx.dsl.components.component
def DataGate(  # noqa: N802 - TFX names components like classes
    anomalies: tfx.dsl.components.InputArtifact[
        list[tfx.types.standard_artifacts.ExampleAnomalies]
    ],
    schema: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Schema],
    validated_schema: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.Schema],
) -> None:
    """Stop the run before Transform when any span's validation found anomalies."""
    problems = window_problems(anomalies)
    if problems:
        raise DataValidationError(
            f"{len(problems)} data anomalies, stopping before Transform:\n  "
            + "\n  ".join(problems)
        )
    fileio.copy(os.path.join(schema.uri, SCHEMA_FILE), os.path.join(validated_schema.uri, SCHEMA_FILE),
                overwrite=True)
