"""The Evaluator's config: TFMA plots only on request, every metric the run reports either way."""

from __future__ import annotations

import pytest

from pipeline.config import PipelineConfig
from pipeline.graph.eval_config import eval_config

# Builds TFMA protos (imports TFMA and TensorFlow): `make test-unit` skips it.
pytestmark = pytest.mark.slow

PLOTS = {"taxi": "CalibrationPlot", "penguins": "MultiClassConfusionMatrixPlot"}


def metric_names(project: str, plots: bool) -> list[str]:
    """Class names of every metric the Evaluator of a bundled project computes."""
    config = PipelineConfig(project=project)
    built = eval_config(config.declaration, config.blessing_thresholds, plots)
    return [m.class_name for spec in built.metrics_specs for m in spec.metrics]


@pytest.mark.parametrize("project", sorted(PLOTS))
def test_plots_are_computed_only_when_asked_for(project: str) -> None:
    without, drawn = metric_names(project, False), metric_names(project, True)
    assert PLOTS[project] not in without
    assert PLOTS[project] in drawn
    assert [name for name in drawn if name != PLOTS[project]] == without


@pytest.mark.parametrize("project", sorted(PLOTS))
def test_the_declared_metrics_and_thresholds_do_not_depend_on_plots(project: str) -> None:
    config = PipelineConfig(project=project)
    declared = {m.tfma_class for m in config.declaration.metrics}
    assert declared <= set(metric_names(project, False))
    built = eval_config(config.declaration, config.blessing_thresholds, False)
    gated = [m for spec in built.metrics_specs for m in spec.metrics if m.per_slice_thresholds]
    assert [m.class_name for m in gated] == [
        m.class_name for spec in eval_config(config.declaration, config.blessing_thresholds,
                                             True).metrics_specs
        for m in spec.metrics if m.per_slice_thresholds]
    assert gated, "the blessing thresholds are kept"
