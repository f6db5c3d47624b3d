"""The Evaluator's TFMA config, derived from models/features.py and the pipeline config."""

from __future__ import annotations

from typing import TYPE_CHECKING

from models import features

if TYPE_CHECKING:
    import tensorflow_model_analysis as tfma

AUC_METRIC = "auc"
ACCURACY_METRIC = "binary_accuracy"
# A candidate may not be worse than the baseline by more than rounding noise.
NO_DEGRADATION = -1e-10


def eval_config(min_auc: float) -> tfma.EvalConfig:
    """Metrics, slices and the blessing thresholds: AUC >= min_auc and no AUC loss vs baseline."""
    # Imported here: run summaries read the metric names without loading TFMA and TensorFlow.
    import tensorflow_model_analysis as tfma

    from models.model import SERVING_SIGNATURE, TRANSFORM_SIGNATURE

    auc_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": min_auc}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": NO_DEGRADATION},
        ),
    )
    metrics = [
        tfma.MetricConfig(class_name="ExampleCount"),
        tfma.MetricConfig(class_name="WeightedExampleCount"),
        tfma.MetricConfig(
            class_name="AUC",
            per_slice_thresholds=[
                # Small slices are reported, not gated: only the overall AUC blesses a model.
                tfma.PerSliceMetricThreshold(
                    slicing_specs=[tfma.SlicingSpec()], threshold=auc_threshold
                )
            ],
        ),
        tfma.MetricConfig(class_name="BinaryAccuracy"),
        tfma.MetricConfig(class_name="Precision"),
        tfma.MetricConfig(class_name="Recall"),
        tfma.MetricConfig(class_name="Calibration"),
        tfma.MetricConfig(class_name="CalibrationPlot"),
        tfma.MetricConfig(class_name="MeanLabel"),
        tfma.MetricConfig(class_name="MeanPrediction"),
    ]
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=SERVING_SIGNATURE,
                label_key=features.LABEL_KEY,
                example_weight_key=features.WEIGHT_KEY,
                preprocessing_function_names=[TRANSFORM_SIGNATURE],
            )
        ],
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
        slicing_specs=[tfma.SlicingSpec()]
        + [tfma.SlicingSpec(feature_keys=[key]) for key in features.SLICE_FEATURE_KEYS],
    )
