"""A recorded evaluation is found again whatever the names, thresholds and model type of the
config (they do not change a metric value), and not when a metric or a slice differs."""

from __future__ import annotations

import pytest

from pipeline.config.project import Threshold
from pipeline.graph.recorded_baseline import config_fingerprint
from tests.unit.graph.test_recorded_baseline import project

# Builds TFMA protos (imports TFMA and TensorFlow): `make test-unit` skips it.
pytestmark = pytest.mark.slow


def as_json(config: object) -> str:
    """The eval config as TFX passes it to the executor (proto field names)."""
    from tfx.utils import proto_utils

    return proto_utils.proto_to_json(config)


def test_names_thresholds_and_type_do_not_change_the_fingerprint() -> None:
    import tensorflow_model_analysis as tfma

    from pipeline.graph.eval_config import eval_config

    plain = eval_config(project(), ())
    other = eval_config(project(), (Threshold(metric="auc", lower=0.5),))
    two = tfma.utils.update_eval_config_with_defaults(other, has_baseline=True, rubber_stamp=True)
    del two.model_specs[1:]
    two.model_specs[0].model_type = "tf_generic"
    assert as_json(plain) != as_json(two)
    assert config_fingerprint(as_json(plain)) == config_fingerprint(as_json(two))


def test_metrics_and_slices_change_the_fingerprint() -> None:
    import tensorflow_model_analysis as tfma

    from pipeline.graph.eval_config import eval_config

    plain = eval_config(project(), ())
    more = eval_config(project(), ())
    more.metrics_specs[0].metrics.add(class_name="Precision")
    sliced = eval_config(project(), ())
    sliced.slicing_specs.append(tfma.SlicingSpec(feature_keys=["x1"]))
    prints = {config_fingerprint(as_json(c)) for c in (plain, more, sliced)}
    assert len(prints) == 3
