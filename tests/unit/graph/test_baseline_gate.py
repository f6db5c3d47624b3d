"""The Evaluator's baseline gate: the bound the Baseline component recorded joins the eval config's
value threshold on that metric (the stricter bound wins) and is recorded on the blessing."""

from __future__ import annotations

import json

import pytest

from pipeline.config.project import Feature, Project, Task, Threshold, Treatment
from pipeline.graph.eval_config import eval_config
from pipeline.vocabulary import BASELINE_GATE_PROPERTY, BASELINE_METRICS_KEY, BLESSING_BASELINE_GATE

# Builds TFMA protos and TFX artifacts (imports TFMA and TensorFlow): `make test-unit` skips it.
pytestmark = pytest.mark.slow


def project(task: Task) -> Project:
    classes = {Task.BINARY: ("no", "yes"), Task.REGRESSION: ()}[task]
    return Project(name="p", data="d", label="y", task=task, classes=classes,
                   positive_class="yes" if task is Task.BINARY else None,
                   features=(Feature("x", Treatment.NUMERIC),), baseline_margin=0.01)


def gated(declared: Project, thresholds: tuple[Threshold, ...], gate: dict) -> tuple[object, str]:
    """The overall value threshold on the gated metric after the executor's step, and what the
    blessing recorded."""
    import tensorflow_model_analysis as tfma
    from tfx.types import standard_artifacts
    from tfx.types import standard_component_specs as specs
    from tfx.utils import proto_utils

    from pipeline.graph.baseline import BaselineMetrics
    from pipeline.graph.evaluator import SelfBaselineSkippingExecutor

    recorded = BaselineMetrics()
    recorded.set_string_custom_property(BASELINE_GATE_PROPERTY, json.dumps(gate))
    blessing = standard_artifacts.ModelBlessing()
    config = proto_utils.proto_to_json(eval_config(declared, thresholds))
    properties = SelfBaselineSkippingExecutor._gated(
        {BASELINE_METRICS_KEY: [recorded]}, {specs.BLESSING_KEY: [blessing]},
        {specs.EVAL_CONFIG_KEY: config})
    built = proto_utils.json_to_proto(properties[specs.EVAL_CONFIG_KEY], tfma.EvalConfig())
    metric = declared.metric(gate["metric"]) if gate else declared.primary_metric
    [entry] = [m for s in built.metrics_specs for m in s.metrics if m.class_name == metric.tfma_class]
    [overall] = [t for t in entry.per_slice_thresholds if list(t.slicing_specs) == [tfma.SlicingSpec()]]
    return overall.threshold, blessing.get_string_custom_property(BLESSING_BASELINE_GATE)


def auc_gate(lower: float) -> dict:
    return {"metric": "auc", "tfma_class": "AUC", "lower": lower, "upper": None,
            "baseline": "linear", "value": lower + 0.01, "margin": 0.01}


def test_the_gate_adds_a_lower_bound_and_keeps_the_change_threshold() -> None:
    threshold, recorded = gated(project(Task.BINARY), (), auc_gate(0.79))
    assert threshold.value_threshold.lower_bound.value == pytest.approx(0.79)
    assert threshold.HasField("change_threshold")  # no worse than serving stays
    assert json.loads(recorded)["lower"] == 0.79


@pytest.mark.parametrize("declared, expected", [(0.9, 0.9), (0.5, 0.79)])
def test_the_stricter_of_the_declared_bound_and_the_gate_wins(declared: float, expected: float) -> None:
    threshold, _ = gated(project(Task.BINARY), (Threshold("auc", lower=declared),), auc_gate(0.79))
    assert threshold.value_threshold.lower_bound.value == pytest.approx(expected)


def test_an_error_metric_gets_an_upper_bound() -> None:
    gate = {"metric": "rmse", "tfma_class": "RootMeanSquaredError", "lower": None, "upper": 2.1,
            "baseline": "linear", "value": 2.0, "margin": 0.05}
    threshold, _ = gated(project(Task.REGRESSION), (), gate)
    assert threshold.value_threshold.upper_bound.value == pytest.approx(2.1)
    assert not threshold.value_threshold.HasField("lower_bound")


def test_no_gate_leaves_the_config_as_declared() -> None:
    threshold, recorded = gated(project(Task.BINARY), (Threshold("auc", lower=0.7),), {})
    assert threshold.value_threshold.lower_bound.value == pytest.approx(0.7)
    assert recorded == ""
