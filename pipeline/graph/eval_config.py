"""The Evaluator's TFMA config, built from the project's declaration and this run's thresholds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline import vocabulary
from pipeline.config.project import Metric, Project, Task, Threshold

if TYPE_CHECKING:
    import tensorflow_model_analysis as tfma

# A candidate may not be worse than the baseline by more than rounding noise.
NO_DEGRADATION = 1e-10
# Reported beside the task's own metrics: how many rows, and what the labels and predictions look like.
BINARY_DIAGNOSTICS = ("MeanLabel", "MeanPrediction")
MULTICLASS_DIAGNOSTICS: tuple[str, ...] = ()
REGRESSION_DIAGNOSTICS = ("MeanLabel", "MeanPrediction")
# TFMA plots, per slice, only with --eval-plots: no reader here (summary, lineage, notebooks, mirror)
# loads them, and the calibration plot's 10,000 buckets per slice cost (docs/performance.md).
BINARY_PLOTS = ("CalibrationPlot",)
MULTICLASS_PLOTS = ("MultiClassConfusionMatrixPlot",)


def eval_config(
    project: Project, thresholds: tuple[Threshold, ...], plots: bool = False
) -> tfma.EvalConfig:
    """Metrics of the project's task, overall and per declared slice; blessing thresholds on the
    overall slice only, plus "no worse than the serving model" on the comparison metric; the
    task's plots only when asked for."""
    # Imported here: run summaries read the metric names without loading TFMA and TensorFlow.
    import tensorflow_model_analysis as tfma

    bounds = {t.metric: t for t in thresholds}
    compared = project.primary_metric
    metrics = [tfma.MetricConfig(class_name="ExampleCount"),
               tfma.MetricConfig(class_name="WeightedExampleCount")]
    for metric in project.metrics:
        gate = _threshold(metric, bounds.get(metric.name), metric == compared)
        slices = [tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=gate)]
        metrics.append(tfma.MetricConfig(class_name=metric.tfma_class,
                                         per_slice_thresholds=slices if gate else []))
    metrics += [tfma.MetricConfig(class_name=name) for name in _diagnostics(project.task, plots)]
    specs = [tfma.MetricsSpec(metrics=metrics)]
    if project.task is Task.MULTICLASS:
        specs.append(_per_class_metrics(project))
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=vocabulary.SERVING_SIGNATURE,
                label_key=vocabulary.label_key(project.label),
                prediction_key=vocabulary.prediction_key(project.task),
                example_weight_key=vocabulary.WEIGHT_KEY,
                preprocessing_function_names=[vocabulary.TRANSFORM_SIGNATURE],
            )
        ],
        metrics_specs=specs,
        slicing_specs=[tfma.SlicingSpec()]
        + [tfma.SlicingSpec(feature_keys=[key]) for key in project.slices],
    )


def _threshold(
    metric: Metric, bound: Threshold | None, compare_with_baseline: bool
) -> tfma.MetricThreshold | None:
    """A value bound (when declared) and, on the comparison metric, no loss against the baseline."""
    import tensorflow_model_analysis as tfma

    if bound is None and not compare_with_baseline:
        return None
    threshold = tfma.MetricThreshold()
    if bound is not None:
        limits = {}
        if bound.lower is not None:
            limits["lower_bound"] = {"value": bound.lower}
        if bound.upper is not None:
            limits["upper_bound"] = {"value": bound.upper}
        threshold.value_threshold.CopyFrom(tfma.GenericValueThreshold(**limits))
    if compare_with_baseline:
        direction = (tfma.MetricDirection.HIGHER_IS_BETTER if metric.higher_is_better
                     else tfma.MetricDirection.LOWER_IS_BETTER)
        allowed = -NO_DEGRADATION if metric.higher_is_better else NO_DEGRADATION
        threshold.change_threshold.CopyFrom(tfma.GenericChangeThreshold(
            direction=direction, absolute={"value": allowed}))
    return threshold


def _diagnostics(task: Task, plots: bool) -> tuple[str, ...]:
    """The task's diagnostic metrics, and its plots when asked for."""
    shown = {Task.BINARY: BINARY_DIAGNOSTICS, Task.MULTICLASS: MULTICLASS_DIAGNOSTICS,
             Task.REGRESSION: REGRESSION_DIAGNOSTICS}[task]
    drawn = {Task.BINARY: BINARY_PLOTS, Task.MULTICLASS: MULTICLASS_PLOTS}.get(task, ())
    return shown + (drawn if plots else ())


def _per_class_metrics(project: Project) -> tfma.MetricsSpec:
    """Precision and recall of each class, one-vs-rest (TFMA sub-keys classId:N)."""
    import tensorflow_model_analysis as tfma

    return tfma.MetricsSpec(
        binarize=tfma.BinarizationOptions(class_ids={"values": list(range(len(project.classes)))}),
        metrics=[tfma.MetricConfig(class_name="Precision"),
                 tfma.MetricConfig(class_name="Recall")],
    )
