"""TFX's Evaluator, minus a comparison of the candidate with itself.

`run --force` on unchanged inputs takes the model from the Trainer's cache; the latest blessed model,
the Evaluator's baseline, is then that very model, and "no worse than serving" would compare it
with itself and always pass. This Evaluator drops such a baseline: the model is judged on the
absolute thresholds alone, as on a first run (TFX ignores change thresholds without a baseline),
and the blessing records why in BASELINE_SKIPPED.
"""

from __future__ import annotations

from typing import Any

from tfx import types
from tfx.components.evaluator import executor as evaluator_executor
from tfx.components.evaluator.component import Evaluator as TfxEvaluator
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_component_specs as specs

from pipeline.metadata.provenance import BASELINE_SKIPPED

SELF_BASELINE = "the baseline model is the candidate itself (taken from the Trainer's cache)"


def is_self_baseline(model: list[types.Artifact], baseline: list[types.Artifact]) -> bool:
    """Whether the baseline is the candidate model artifact (same MLMD id, or same URI)."""
    ids, uris = {a.id for a in model if a.id}, {a.uri for a in model}
    return any(b.id in ids or b.uri in uris for b in baseline)


class SelfBaselineSkippingExecutor(evaluator_executor.Executor):
    """Drops a baseline that is the candidate before TFX's executor runs; labels the blessing."""

    def Do(  # TFX's executor interface
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        """Evaluate, without the baseline when it is the candidate."""
        baseline = input_dict.get(specs.BASELINE_MODEL_KEY) or []
        if is_self_baseline(input_dict[specs.MODEL_KEY], baseline):
            input_dict = {k: v for k, v in input_dict.items() if k != specs.BASELINE_MODEL_KEY}
            for blessing in output_dict.get(specs.BLESSING_KEY, []):
                blessing.set_string_custom_property(BASELINE_SKIPPED, SELF_BASELINE)
        super().Do(input_dict, output_dict, exec_properties)


class Evaluator(TfxEvaluator):
    """TFX's Evaluator with SelfBaselineSkippingExecutor."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(SelfBaselineSkippingExecutor)
