"""TFX's Transform, writing its analyzer cache only when a run of the pipeline can read it.

Only a window run with `--analyzer-cache` reads a TransformCache (pipeline_graph._analyzer_cache),
yet TFX's executor writes one on every run: it then analyses each input dataset apart, computes
the cache's entry keys and writes every analyzer's accumulators through extra Beam stages (about
1.9 of Transform's 15 CPU seconds on the bundled rows, 13 %). Without `--analyzer-cache` the
updated_analyzer_cache artifact stays empty; the transform graph and the transformed examples are
the same (tests/unit/graph/test_transform_cache_output.py).
"""

from __future__ import annotations

import json
from typing import Any

from tfx.components.transform import component as transform_component
from tfx.components.transform import executor as transform_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact, standard_component_specs

from pipeline import vocabulary


def writes_analyzer_cache(exec_properties: dict[str, Any]) -> bool:
    """Whether the run asked for the cache (custom_config's flag; TFX's default, yes, without it)."""
    custom_config = json.loads(exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or "null")
    return bool((custom_config or {}).get(vocabulary.WRITE_ANALYZER_CACHE, True))


class Executor(transform_executor.Executor):
    """TFX's Transform executor without the analyzer-cache output when no run reads it."""

    def Do(self, input_dict: dict[str, list[artifact.Artifact]],  # noqa: N802 (TFX interface)
           output_dict: dict[str, list[artifact.Artifact]], exec_properties: dict[str, Any]) -> None:
        """TFX's Do; the cache output is left out (so left empty) unless the run writes it.

        TFX replaces lists of the dict it is given (one transformed-examples artifact per input
        span, in a window run): they are copied back, or the launcher would publish none of them.
        """
        written = output_dict if writes_analyzer_cache(exec_properties) else {
            key: value for key, value in output_dict.items()
            if key != standard_component_specs.UPDATED_ANALYZER_CACHE_KEY}
        super().Do(input_dict, written, exec_properties)
        output_dict.update(written)


class Transform(transform_component.Transform):
    """TFX's Transform (same spec, same id) running the executor above."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
