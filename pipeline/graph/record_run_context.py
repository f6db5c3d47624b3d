"""RecordRunContext: the run's provenance (data, code, config, packages) as an MLMD artifact."""


import json
import os

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.io import fileio
from tfx.types import standard_artifacts
from tfx.types.artifact import Artifact


class RunContext(Artifact):
    """What a run was made from: data span, code version, config, lock hash, package versions."""

    # Kubeflow's compiler requires custom types to be named '<namespace>.<Name>'.
    TYPE_NAME = "pipeline.RunContext"


@component
def RecordRunContext(  # TFX names components like classes
    examples: InputArtifact[standard_artifacts.Examples],
    context: Parameter[str],
    run_context: OutputArtifact[RunContext],
) -> None:
    """Store the run's provenance (computed at pipeline construction) as custom properties."""
    values = json.loads(context)
    for name, value in values.items():
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        run_context.set_string_custom_property(name, text)
    run_context.set_string_custom_property(
        "examples_span", str(examples.get_int_custom_property("span"))
    )
    run_context.set_string_custom_property("examples_uri", examples.uri)
    with fileio.open(os.path.join(run_context.uri, "run_context.json"), "w") as handle:
        handle.write(json.dumps(values, indent=2))
