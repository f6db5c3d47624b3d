"""DataGate: stops the run before Transform when any validation found an anomaly."""


import json
import os

from tfx import types
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts

from pipeline import vocabulary
from pipeline.config.project import Project
from pipeline.data import label_checks, validation
from pipeline.errors import WorkFailed
from pipeline.vocabulary import SPAN_PROPERTY


class DataValidationError(WorkFailed):
    """The input data broke the schema; the message lists each anomalous feature and why."""


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
        problems += [prefix + line for line in validation.artifact_anomaly_lines(artifact.uri, splits)]
    return problems


def span_label_problems(statistics: list[types.Artifact], project: Project) -> list[str]:
    """Labels that cannot train a model, per span and split (pipeline.data.label_checks)."""
    problems = []
    for artifact in statistics:
        splits = {
            split: validation.read_statistics(artifact.uri, split).datasets[0]
            for split in artifact_utils.decode_split_names(artifact.split_names)
        }
        span = artifact.span if artifact.has_property(SPAN_PROPERTY) else None
        prefix = f"span {span} " if span is not None and len(statistics) > 1 else ""
        problems += [prefix + line for line in label_checks.label_problems(splits, project)]
    return problems


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
    """Stop the run before Transform when any span's validation found anomalies, or its label
    cannot train a model (one value, almost all missing, a class or range absent from a split)."""
    problems = window_problems(anomalies)
    problems += span_label_problems(statistics, Project.from_dict(json.loads(project)))
    if problems:
        raise DataValidationError(
            f"{len(problems)} data anomalies, stopping before Transform:\n  "
            + "\n  ".join(problems)
        )
    fileio.copy(os.path.join(schema.uri, vocabulary.SCHEMA_FILE),
                os.path.join(validated_schema.uri, vocabulary.SCHEMA_FILE), overwrite=True)
