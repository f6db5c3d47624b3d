"""Baseline: the reference models of pipeline.data.baseline fitted on this run's own split.

Reads Transform's train and eval examples (the rows, label and weight the Trainer and the
Evaluator see), records each reference model's metrics in ML Metadata (custom property
`metrics`, JSON) and in `baseline.json`, and the blessing bound the declared margin sets (`gate`),
which the Evaluator adds to its thresholds.
"""

import json
import os
from collections.abc import Sequence
from typing import Any

from tfx import types
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.io import fileio
from tfx.types import standard_artifacts

from pipeline import vocabulary
from pipeline.config.project import Project
from pipeline.data import baseline
from pipeline.data.example_batches import decoded_batches

METRICS_PROPERTY = vocabulary.BASELINE_METRICS_PROPERTY
GATE_PROPERTY = vocabulary.BASELINE_GATE_PROPERTY
ROWS_PROPERTY = vocabulary.BASELINE_ROWS_PROPERTY


class BaselineMetrics(types.Artifact):
    """The reference models' metrics on the run's eval split, and the bound they set."""

    TYPE_NAME = "pipeline.BaselineMetrics"  # Kubeflow V2 needs a namespaced name


def read_split(uris: Sequence[str], split: str, project: Project, limit: int = -1) -> baseline.Split:
    """The first `limit` (-1: every) transformed rows of one split of these artifacts, decoded to
    columns a batch of records at a time."""
    import numpy as np

    files = sorted(path for uri in uris
                   for path in fileio.glob(os.path.join(uri, vocabulary.split_folder(split), "*")))
    wanted = baseline.column_keys(project)
    parts: dict[str, list[Any]] = {}
    for decoded in decoded_batches(files, limit):
        for key, column in zip(decoded.schema.names, decoded.columns, strict=True):
            if key in wanted:
                parts.setdefault(key, []).append(first_values(column))
    return baseline.split_from_columns(project, {k: np.concatenate(v) for k, v in parts.items()})


def first_values(column: Any) -> Any:
    """Each row's first value of a decoded numeric list column (floats as float64), NaN where a
    row has none: the values and dtypes the per-row proto decoding gave."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    lengths = pc.list_value_length(column).fill_null(0).to_numpy(zero_copy_only=False)
    starts = column.offsets.to_numpy()[:-1]
    values = column.values.to_numpy(zero_copy_only=False)
    if pa.types.is_floating(column.type.value_type):
        values = values.astype(np.float64)
    present = lengths > 0
    if present.all():
        return values[starts]
    first = np.full(len(column), np.nan)
    first[present] = values[starts[present]]
    return first


def newest(examples: Sequence[types.Artifact]) -> types.Artifact:
    """The newest span's examples (Transform writes one artifact per span of a window, in span
    order): the Evaluator judges the model on that span's eval split, so the baselines are too."""
    return max(enumerate(examples), key=lambda item: (item[1].span, item[0]))[1]


def reference_record(train_uris: Sequence[str], eval_uri: str, declared: Project) -> dict[str, Any]:
    """The reference models fitted on the first FIT_ROWS training rows and scored on every eval
    row: their metrics, the gate they set, and the rows each step read."""
    train = read_split(train_uris, vocabulary.TRAIN_SPLIT, declared, baseline.FIT_ROWS)
    evaluation = read_split([eval_uri], vocabulary.EVAL_SPLIT, declared)
    metrics = baseline.fit(train, evaluation, declared)
    bound = baseline.gate(declared, metrics[baseline.GATED])
    gate = {} if bound is None else {
        "metric": bound.metric, "tfma_class": declared.metric(bound.metric).tfma_class,
        "lower": bound.lower, "upper": bound.upper,
        "baseline": baseline.GATED, "value": metrics[baseline.GATED][bound.metric],
        "margin": declared.baseline_margin}
    rows = {"fitted": len(train.label), "scored": len(evaluation.label),
            "fit_limit": baseline.FIT_ROWS}
    return {METRICS_PROPERTY: metrics, GATE_PROPERTY: gate, ROWS_PROPERTY: rows}


@component
def Baseline(  # TFX names components like classes
    transformed_examples: InputArtifact[list[standard_artifacts.Examples]],
    baseline_metrics: OutputArtifact[BaselineMetrics],
    project: Parameter[str],
) -> None:
    """Fit the reference models on the train split of every span the Trainer reads, score them on
    the eval split of the newest span (the Evaluator's), record metrics and the gate."""
    declared = Project.from_dict(json.loads(project))
    record = reference_record([e.uri for e in transformed_examples],
                              newest(transformed_examples).uri, declared)
    with fileio.open(os.path.join(baseline_metrics.uri, vocabulary.BASELINE_FILE), "w") as out:
        out.write(json.dumps(record, indent=1, sort_keys=True))
    for name, value in record.items():
        baseline_metrics.set_string_custom_property(name, json.dumps(value, sort_keys=True))
