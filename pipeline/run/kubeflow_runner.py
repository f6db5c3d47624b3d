"""Compile the same pipeline for Kubeflow Pipelines v2 / Vertex AI Pipelines: a spec, not a run."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from pipeline.config import (
    PROJECT_ROOT,
    STATE_DIR,
    ConfigError,
    PipelineConfig,
    is_uri,
)
from pipeline.config.secrets import credential_options
from pipeline.data import spans

# The Dockerfile copies the project here; project files in the spec are referenced at this path.
IMAGE_PROJECT_ROOT = PurePosixPath("/pipeline")


DEFAULT_IMAGE = "tfx-pipeline:latest"


DEFAULT_OUTPUT_DIR = STATE_DIR / "kubeflow"


def default_output(project: str) -> Path:
    """Where compile-kfp writes a project's spec unless told: state/kubeflow/<project>.json."""
    return DEFAULT_OUTPUT_DIR / f"{project}.json"


def for_cluster(config: PipelineConfig) -> PipelineConfig:
    """Check every pod can reach inputs and artifacts (URIs, or project files in the image).

    Local inputs come back as absolute paths, so in_image can find them among the parameters.
    """
    if not is_uri(config.pipeline_root):
        raise ConfigError(
            f"invalid config pipeline_root: {config.pipeline_root} is local to this machine; "
            "Kubeflow needs a URI every pod can reach, such as gs://bucket/root"
        )
    _refuse_span_window(config)
    _refuse_credentials(config)
    local = {}
    for name in ("data_dir", "schema_path"):
        value = getattr(config, name)
        if value is None or is_uri(value):
            continue
        local[name] = Path(value).resolve()
        if not local[name].is_relative_to(PROJECT_ROOT):
            raise ConfigError(
                f"invalid config {name}: {value} is neither a URI nor inside the project "
                f"{PROJECT_ROOT}, which is all the image contains"
            )
    return config.replace(**local)


def _refuse_credentials(config: PipelineConfig) -> None:
    """A compiled spec is plain text that Kubeflow stores and shows: a Beam option carrying a
    credential would be written into it (masking it would compile a spec that cannot run)."""
    names = credential_options(config.extra_beam_args)
    if names:
        raise ConfigError(
            "invalid config extra_beam_args: " + ", ".join(f"--{n}" for n in names)
            + " would be written into the compiled spec in plain text; leave credentials out of "
            "--beam-args and give them to the pods through the cluster (a Kubernetes secret "
            "exposed as the variables the Beam filesystem reads, or workload identity)")


def _refuse_span_window(config: PipelineConfig) -> None:
    """A window of several spans feeds Transform a channel union, which TFX 1.16's Kubeflow V2
    compiler rejects ('Only single Channel is supported'): say so before compiling."""
    if is_uri(config.data_dir):
        return
    window = spans.resolve_spans(Path(config.data_dir), config.spans)
    if len(window) > 1:
        raise ConfigError(
            f"invalid config spans: {config.spans} selects spans {list(window)}; the Kubeflow "
            "spec takes one span per run (TFX 1.16's Kubeflow V2 compiler does not compile the "
            "channel union a multi-span window feeds Transform)"
        )


def in_image(value: Any) -> Any:
    """A project file's path inside the image; every other value unchanged."""
    if isinstance(value, str) and not is_uri(value) and Path(value).is_relative_to(PROJECT_ROOT):
        return str(IMAGE_PROJECT_ROOT / Path(value).relative_to(PROJECT_ROOT).as_posix())
    return value


def compile_pipeline(config: PipelineConfig, output: Path, image: str) -> dict[str, Any]:
    """Write create_pipeline(config) as a KFP v2 PipelineJob (.json) or PipelineSpec (.yaml).

    The run's facts (data fingerprint, git commit, ...) are computed once, here: the spec records
    the state at compile time, as every run of it does.
    """
    config = for_cluster(config)
    from tfx import v1 as tfx

    from pipeline.graph.pipeline_graph import create_pipeline
    from pipeline.run import run_facts

    pipeline = create_pipeline(config, run_facts.compute(config))
    for component in pipeline.components:
        properties = component.exec_properties
        properties.update({key: in_image(value) for key, value in properties.items()})
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=str(output.parent),
        output_filename=output.name,
    )
    return runner.run(pipeline, write_out=True)
