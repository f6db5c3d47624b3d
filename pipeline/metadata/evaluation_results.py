"""The Evaluator's outputs read back: overall metrics and the blessing verdict with its reason."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tensorflow_model_analysis.proto import validation_result_pb2


def overall_metrics(evaluation_uri: str) -> dict[str, float]:
    """The candidate model's metrics on the overall slice."""
    import tensorflow_model_analysis as tfma

    result = tfma.load_eval_result(evaluation_uri)
    for slice_key, metrics in result.slicing_metrics:
        if slice_key == ():
            values = metrics.get("", {}).get("", {})
            # TFMA's JSON writes NaN (precision with no positive prediction) as the text 'NaN'.
            return {name: float(v["doubleValue"]) for name, v in values.items()
                    if "doubleValue" in v}
    return {}


def blessing_reason(evaluation_uri: str) -> str:
    """Why the Evaluator blessed the model or not, with the failing values."""
    import tensorflow_model_analysis as tfma

    result = tfma.load_validation_result(evaluation_uri)
    if result.validation_ok:
        return "all thresholds passed"
    failures = [
        _describe_failure(failure)
        for per_slice in result.metric_validations_per_slice
        for failure in per_slice.failures
    ]
    return "; ".join(failures) or "validation failed"


def _describe_failure(failure: validation_result_pb2.ValidationFailure) -> str:
    """'auc 0.51 failed lower bound 0.85' style text from a TFMA ValidationFailure."""
    key, threshold = failure.metric_key, failure.metric_threshold
    value = failure.metric_value.double_value.value
    name = f"{key.name} change vs baseline" if key.is_diff else key.name
    if threshold.HasField("value_threshold"):
        bound = threshold.value_threshold
        limit = bound.lower_bound.value if bound.HasField("lower_bound") else bound.upper_bound.value
        rule = f"{'lower' if bound.HasField('lower_bound') else 'upper'} bound {limit:.4g}"
        return f"{name} {value:.4f} failed {rule} by {abs(value - limit):.4f}"
    change = threshold.change_threshold.absolute.value
    return f"{name} {value:+.4f} failed change threshold {change:g} (worse than the serving model)"


def slice_metrics(evaluation_uri: str) -> dict[str, dict[str, float]]:
    """The candidate model's metrics on every slice but the overall one, by 'feature/value' name."""
    import tensorflow_model_analysis as tfma

    result = tfma.load_eval_result(evaluation_uri)
    slices: dict[str, dict[str, float]] = {}
    for slice_key, metrics in result.slicing_metrics:
        if slice_key == ():
            continue
        name = "/".join(f"{feature}/{value}" for feature, value in slice_key)
        values = metrics.get("", {}).get("", {})
        slices[name] = {metric: float(v["doubleValue"]) for metric, v in values.items()
                        if "doubleValue" in v}
    return slices
