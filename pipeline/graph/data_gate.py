"""DataGate: stops the run before Transform when any validation found an anomaly."""


import json
import os

import tensorflow_data_validation as tfdv
from tensorflow_data_validation.utils import anomalies_util
from tfx import types
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts

from pipeline.config.project import Project
from pipeline.data import label_checks
from pipeline.data.anomalies import describe
from pipeline.errors import WorkFailed
from pipeline.vocabulary import (
    ANOMALIES_FILE,
    SCHEMA_FILE,
    SPAN_PROPERTY,
    STATISTICS_FILE,
    split_folder,
)


class DataValidationError(WorkFailed):
    """The input data broke the schema; the message lists each anomalous feature and why."""


def describe_anomalies(anomalies_uri: str, split_names: list[str]) -> list[str]:
    """One line per anomalous feature and split: '<split>: <feature>: <reason>'."""
    lines = []
    for split in split_names:
        path = os.path.join(anomalies_uri, split_folder(split), ANOMALIES_FILE)
        lines += describe(anomalies_util.load_anomalies_binary(path), split)
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


def span_label_problems(statistics: list[types.Artifact], project: Project) -> list[str]:
    """Labels that cannot train a model, per span and split (pipeline.data.label_checks)."""
    problems = []
    for artifact in statistics:
        splits = {
            split: tfdv.load_stats_binary(os.path.join(artifact.uri, split_folder(split), STATISTICS_FILE))
            .datasets[0]
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
    fileio.copy(os.path.join(schema.uri, SCHEMA_FILE), os.path.join(validated_schema.uri, SCHEMA_FILE),
                overwrite=True)
