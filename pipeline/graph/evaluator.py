"""TFX's Evaluator, minus a comparison of the candidate with itself.

`run --force` on unchanged inputs takes the model from the Trainer's cache; the latest blessed model,
the Evaluator's baseline, is then that very model, and "no worse than serving" would compare it
with itself and always pass. This Evaluator drops such a baseline: the model is judged on the
absolute thresholds alone, as on a first run (TFX ignores change thresholds without a baseline),
and the blessing records why in BASELINE_SKIPPED.

It also reads the Baseline component's output: the bound the declared margin sets from the linear
baseline's metric on the same split joins the overall slice's value threshold on that metric
(the stricter bound wins), and the blessing records it in BASELINE_GATE for the run summary.

When the baseline's own evaluation, as the candidate, on the same examples with the same metrics
and slices is on disk (pipeline.graph.recorded_baseline), the baseline is not scored again: the
candidate is evaluated alone and compared with the recorded metrics, giving TFMA's two-model
output and blessing; the blessing names the reused evaluation in BLESSING_REUSED_EVALUATION.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tfx import types
from tfx.components.evaluator import constants
from tfx.components.evaluator import executor as evaluator_executor
from tfx.components.evaluator.component import Evaluator as TfxEvaluator
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import channel, standard_artifacts
from tfx.types import standard_component_specs as specs
from tfx.types.component_spec import ChannelParameter
from tfx.utils import io_utils, json_utils, proto_utils

from pipeline.graph import model_type, recorded_baseline
from pipeline.graph.baseline import GATE_PROPERTY, BaselineMetrics
from pipeline.metadata.provenance import BASELINE_SKIPPED
from pipeline.vocabulary import (
    BASELINE_METRICS_KEY,
    BLESSING_BASELINE_GATE,
    BLESSING_REUSED_EVALUATION,
)

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
        """Evaluate, without the baseline when it is the candidate, with the baseline's bound."""
        exec_properties = self._gated(input_dict, output_dict, exec_properties)
        baseline = input_dict.get(specs.BASELINE_MODEL_KEY) or []
        if is_self_baseline(input_dict[specs.MODEL_KEY], baseline):
            input_dict = {k: v for k, v in input_dict.items() if k != specs.BASELINE_MODEL_KEY}
            for blessing in output_dict.get(specs.BLESSING_KEY, []):
                blessing.set_string_custom_property(BASELINE_SKIPPED, SELF_BASELINE)
        exec_properties = _typed(input_dict, exec_properties)
        if not (baseline and self._reused(input_dict, output_dict, exec_properties)):
            super().Do(input_dict, output_dict, exec_properties)
        self._record(input_dict, output_dict, exec_properties)

    def _record(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        """Leave what was scored beside the evaluation, for a later run's comparison."""
        config = exec_properties.get(specs.EVAL_CONFIG_KEY)
        examples, models = input_dict.get(specs.EXAMPLES_KEY), input_dict.get(specs.MODEL_KEY)
        if config and examples and models and len(examples) == 1:
            evaluation = output_dict[specs.EVALUATION_KEY][0].uri
            recorded_baseline.write_record(
                evaluation, recorded_baseline.record(examples[0], models[0], config))

    def _reused(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> bool:
        """Evaluate the candidate alone against the baseline's recorded evaluation, when one
        matches exactly; False (nothing written) when TFMA's own comparison must run."""
        config = exec_properties.get(specs.EVAL_CONFIG_KEY)
        examples = input_dict.get(specs.EXAMPLES_KEY) or []
        baseline = input_dict.get(specs.BASELINE_MODEL_KEY) or []
        if not config or len(examples) != 1 or len(baseline) != 1:
            return False
        full = recorded_baseline.two_model_config(config)
        output_uri = output_dict[specs.EVALUATION_KEY][0].uri
        wanted = recorded_baseline.record(examples[0], baseline[0], config)
        recorded = recorded_baseline.find(output_uri, wanted)
        if recorded is None or recorded_baseline.has_plots(full):
            return False
        alone = recorded_baseline.candidate_alone(full)
        without = {k: v for k, v in input_dict.items() if k != specs.BASELINE_MODEL_KEY}
        super().Do(without, output_dict,
                   {**exec_properties, specs.EVAL_CONFIG_KEY: proto_utils.proto_to_json(alone)})
        try:
            result = recorded_baseline.compare(output_uri, recorded, full)
        except recorded_baseline.NotReusable:
            super().Do(input_dict, output_dict, exec_properties)
            return True
        for blessing in output_dict.get(specs.BLESSING_KEY, []):
            _bless(blessing, input_dict, exec_properties, result.validation_ok)
            blessing.set_string_custom_property(BLESSING_REUSED_EVALUATION, recorded)
        return True

    @staticmethod
    def _gated(
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> dict[str, Any]:
        """exec_properties with the Baseline's bound added to the eval config (when it set one)."""
        recorded = input_dict.get(BASELINE_METRICS_KEY) or []
        if not recorded or not exec_properties.get(specs.EVAL_CONFIG_KEY):
            return exec_properties
        gate = json.loads(recorded[0].get_string_custom_property(GATE_PROPERTY) or "{}")
        if not gate:
            return exec_properties
        import tensorflow_model_analysis as tfma

        config = proto_utils.json_to_proto(exec_properties[specs.EVAL_CONFIG_KEY], tfma.EvalConfig())
        add_bound(config, gate)
        for blessing in output_dict.get(specs.BLESSING_KEY, []):
            blessing.set_string_custom_property(BLESSING_BASELINE_GATE, json.dumps(gate, sort_keys=True))
        return {**exec_properties, specs.EVAL_CONFIG_KEY: proto_utils.proto_to_json(config)}


def _typed(input_dict: dict[str, list[types.Artifact]],
           exec_properties: dict[str, Any]) -> dict[str, Any]:
    """exec_properties with the models' TFMA type in the eval config when it is read without a load."""
    if not exec_properties.get(specs.EVAL_CONFIG_KEY):
        return exec_properties
    import tensorflow_model_analysis as tfma

    config = proto_utils.json_to_proto(exec_properties[specs.EVAL_CONFIG_KEY], tfma.EvalConfig())
    models = [*input_dict.get(specs.MODEL_KEY, []), *input_dict.get(specs.BASELINE_MODEL_KEY, [])]
    if not model_type.with_model_types(config, models):
        return exec_properties
    return {**exec_properties, specs.EVAL_CONFIG_KEY: proto_utils.proto_to_json(config)}


def _bless(blessing: types.Artifact, input_dict: dict[str, list[types.Artifact]],
           exec_properties: dict[str, Any], ok: bool) -> None:
    """The blessing's file and properties exactly as TFX's Evaluator executor writes them."""
    model, baseline = input_dict[specs.MODEL_KEY][0], input_dict[specs.BASELINE_MODEL_KEY][0]
    blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_URI_KEY,
                                        model.uri)
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY, model.id)
    blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY,
                                        baseline.uri)
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY,
                                     baseline.id)
    if "current_component_id" in exec_properties:
        blessing.set_string_custom_property("component_id", exec_properties["current_component_id"])
    name = constants.BLESSED_FILE_NAME if ok else constants.NOT_BLESSED_FILE_NAME
    io_utils.write_string_file(os.path.join(blessing.uri, name), "")
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY,
                                     constants.BLESSED_VALUE if ok else constants.NOT_BLESSED_VALUE)


def add_bound(config: Any, gate: dict[str, Any]) -> None:
    """Tighten (or add) the overall slice's value threshold on the gated metric's TFMA class."""
    import tensorflow_model_analysis as tfma

    project_metric = gate["tfma_class"]
    entry = next((m for spec in config.metrics_specs for m in spec.metrics
                  if m.class_name == project_metric and not spec.HasField("binarize")), None)
    if entry is None:
        entry = config.metrics_specs[0].metrics.add(class_name=project_metric)
    overall = next((t for t in entry.per_slice_thresholds
                    if list(t.slicing_specs) == [tfma.SlicingSpec()]), None)
    if overall is None:
        overall = entry.per_slice_thresholds.add(slicing_specs=[tfma.SlicingSpec()])
    bound = overall.threshold.value_threshold
    if gate.get("lower") is not None:
        current = bound.lower_bound.value if bound.HasField("lower_bound") else gate["lower"]
        bound.lower_bound.value = max(current, gate["lower"])
    if gate.get("upper") is not None:
        current = bound.upper_bound.value if bound.HasField("upper_bound") else gate["upper"]
        bound.upper_bound.value = min(current, gate["upper"])


class GatedEvaluatorSpec(specs.EvaluatorSpec):
    """TFX's Evaluator spec plus the Baseline component's metrics as an optional input."""

    INPUTS = {**specs.EvaluatorSpec.INPUTS,
              BASELINE_METRICS_KEY: ChannelParameter(type=BaselineMetrics, optional=True)}


class Evaluator(TfxEvaluator):
    """TFX's Evaluator with SelfBaselineSkippingExecutor, gated on the Baseline's bound too."""

    SPEC_CLASS = GatedEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(SelfBaselineSkippingExecutor)

    def __init__(self, examples: channel.BaseChannel, model: channel.BaseChannel,
                 baseline_model: channel.BaseChannel, eval_config: Any,
                 baseline_metrics: channel.BaseChannel | None = None) -> None:
        spec = GatedEvaluatorSpec(
            examples=examples, model=model, baseline_model=baseline_model,
            baseline_metrics=baseline_metrics, eval_config=eval_config,
            fairness_indicator_thresholds=json_utils.dumps(None),
            example_splits=json_utils.dumps(None),
            evaluation=channel.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=channel.Channel(type=standard_artifacts.ModelBlessing))
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)
