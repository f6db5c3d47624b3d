"""Names and sizes of every Transform output, derived from a project's declaration (TF-free).

Preprocessing writes these outputs and the model reads them; the label, weight and output key
names the Evaluator's config and serving read too are the platform's (pipeline.vocabulary), used
here. Nothing names a column of one dataset.

Transform outputs of a project:
  numeric      `<f>_xf` z-scored float, `<f>_bucket_xf` quantile-bucket id (`buckets` ids; none
               when `buckets` is 0)
  bucketized   `<f>_xf` quantile-bucket id (`buckets` ids)
  categorical  `<f>_xf` integer id clipped to 0..max_value-1
  vocabulary   `<f>_xf` vocabulary id (`top_k` + `oov_buckets` ids)
  hashed       `<f>_xf` hash bucket id (`buckets` ids)
  label        `<label>_xf`: binary 0/1, multiclass class index, regression the raw float target
               (what the Evaluator compares predictions with, in original units)
  regression   `<label>_scaled_xf` the z-scored target the network trains on, plus the target's
               mean and standard deviation broadcast to every row (`label_mean_xf`, `label_std_xf`),
               computed from raw features only, so the serving signatures unscale predictions
               with the Transform graph's own constants
  weight       `example_weight_xf`: 0 for rows without a usable label, times the declared weight
"""

from __future__ import annotations

from pipeline.config.project import Feature, Project, Task, Treatment
from pipeline.vocabulary import (
    LABEL_MEAN_KEY,
    LABEL_STD_KEY,
    TRANSFORMED_SUFFIX,
    WEIGHT_KEY,
    label_key,
    transformed_name,
)


def bucketized_name(key: str) -> str:
    """Name of the quantile-bucket id of a numeric feature."""
    return f"{key}_bucket{TRANSFORMED_SUFFIX}"


def training_label_key(project: Project) -> str:
    """The label the network trains on: the z-scored target for regression, else label_key."""
    if project.task is Task.REGRESSION:
        return f"{project.label}_scaled{TRANSFORMED_SUFFIX}"
    return label_key(project.label)


def output_units(project: Project) -> int:
    """Units of the network's last layer: one for binary and regression, one per class otherwise."""
    return len(project.classes) if project.task is Task.MULTICLASS else 1


def categorical_cardinalities(project: Project) -> dict[str, int]:
    """Number of ids of every integer model input, keyed by its transformed name."""
    sizes: dict[str, int] = {}
    for feature in project.features:
        if feature.treatment is Treatment.NUMERIC:
            if feature.buckets:
                sizes[bucketized_name(feature.name)] = feature.buckets
        else:
            sizes[transformed_name(feature.name)] = id_count(feature)
    return sizes


def id_count(feature: Feature) -> int:
    """How many ids a non-numeric feature's transformed column can take."""
    if feature.treatment is Treatment.CATEGORICAL:
        return feature.max_value
    if feature.treatment is Treatment.VOCABULARY:
        return feature.top_k + feature.oov_buckets
    return feature.buckets  # bucketized, hashed


def numeric_model_inputs(project: Project) -> tuple[str, ...]:
    """Transformed names of the z-scored float model inputs."""
    return tuple(transformed_name(f.name) for f in project.features if f.treatment is Treatment.NUMERIC)


def model_input_names(project: Project) -> list[str]:
    """Transformed features the network reads, in a stable order."""
    return sorted([*numeric_model_inputs(project), *categorical_cardinalities(project)])


def transform_output_names(project: Project) -> list[str]:
    """Every output of the generic preprocessing_fn; raises ValueError when two names collide."""
    names = [*model_input_names(project), label_key(project.label), WEIGHT_KEY]
    if project.task is Task.REGRESSION:
        names += [training_label_key(project), LABEL_MEAN_KEY, LABEL_STD_KEY]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"project {project.name}: Transform outputs {duplicates} collide; "
                         "rename the feature or label columns")
    return names
