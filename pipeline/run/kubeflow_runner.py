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
from pipeline.run import manifest

# The Dockerfile copies the project here; project files in the spec are referenced at this path.
IMAGE_PROJECT_ROOT = PurePosixPath("/pipeline")


DEFAULT_IMAGE = "tfx-pipeline:latest"


DEFAULT_OUTPUT_DIR = STATE_DIR / "kubeflow"


ALLOW_LOCAL_FLAG = "--allow-local-paths"


def default_output(project: str) -> Path:
    """Where compile-kfp writes a project's spec unless told: state/kubeflow/<project>.json."""
    return DEFAULT_OUTPUT_DIR / f"{project}.json"


def for_cluster(config: PipelineConfig, allow_local_paths: bool = False) -> PipelineConfig:
    """Check every pod can reach inputs and artifacts (URIs, or with allow_local_paths project
    files in the image and volumes the pods mount); local inputs come back absolute, so
    in_image can find them among the parameters."""
    if not is_uri(config.pipeline_root):
        raise ConfigError(
            f"invalid config pipeline_root: {config.pipeline_root} is local to this machine; "
            "Kubeflow needs a URI every pod can reach, such as gs://bucket/root"
        )
    _refuse_credentials(config)
    if not allow_local_paths:
        _refuse_local("data_dir", config.data_dir, "gs://bucket/data")
        _refuse_local("serving_dir", config.serving_dir, "gs://bucket/serving_model")
    local: dict[str, Path] = {}
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
    if not is_uri(config.serving_dir):
        local["serving_dir"] = Path(config.serving_dir).resolve()
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


def _refuse_local(name: str, value: Path | str, example: str) -> None:
    """A local path of this machine is not where a pod reads or writes: name the flag out."""
    if not is_uri(value):
        raise ConfigError(
            f"invalid config {name}: {value} is a local path of this machine, which Kubeflow "
            f"pods cannot reach; give a URI such as {example}, or {ALLOW_LOCAL_FLAG} if the "
            "image or a mounted volume holds it"
        )


def _found_spans(data_dir: str | Path) -> list[int]:
    """Span numbers under the data dir, listed through TFX's fileio for a URI."""
    if not is_uri(data_dir):
        return spans.list_spans(Path(data_dir))
    from tfx.dsl.io import fileio

    try:
        names = fileio.listdir(str(data_dir)) if fileio.isdir(str(data_dir)) else []
        return spans.span_numbers([str(name) for name in names])
    except Exception as error:  # any filesystem's failure, named below
        raise ConfigError(f"invalid config data_dir: cannot list {data_dir}: {error}") from error


def cluster_window(config: PipelineConfig) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The span window (one span at most) and the span ingested as its drift baseline ((): none).

    A window of several spans feeds Transform a channel union, and the previous-span resolver is
    a custom strategy: TFX 1.16's Kubeflow V2 compiler rejects both ('Only single Channel is
    supported', 'Unexpected resolver policy'), so the spec ingests the previous span itself.
    """
    found = _found_spans(config.data_dir)
    if not found:
        return (), ()
    window = spans.select_spans(found, config.spans, str(config.data_dir))
    if len(window) > 1:
        raise ConfigError(
            f"invalid config spans: {config.spans} selects spans {list(window)}; the Kubeflow "
            "spec takes one span per run (TFX 1.16's Kubeflow V2 compiler does not compile the "
            "channel union a multi-span window feeds Transform)"
        )
    return window, tuple(s for s in found if s < window[0])[-1:]


def in_image(value: Any) -> Any:
    """A project file's path inside the image; every other value unchanged."""
    if isinstance(value, str) and not is_uri(value) and Path(value).is_relative_to(PROJECT_ROOT):
        return str(IMAGE_PROJECT_ROOT / Path(value).relative_to(PROJECT_ROOT).as_posix())
    return value


def compile_pipeline(
    config: PipelineConfig, output: Path, image: str, allow_local_paths: bool = False
) -> dict[str, Any]:
    """Write create_pipeline(config) as a KFP v2 PipelineJob (.json) or PipelineSpec (.yaml).

    The run's manifest (data fingerprint, git commit, ...) is computed once, here: the spec records
    the state at compile time, as every run of it does.
    """
    config = for_cluster(config, allow_local_paths)
    window, baseline = cluster_window(config)
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as kfp_v2

    from pipeline.graph.pipeline_graph import create_pipeline

    pipeline = create_pipeline(
        config, manifest.compute(config, window), drift_baseline=baseline)
    for component in pipeline.components:
        properties = component.exec_properties
        properties.update({key: in_image(value) for key, value in properties.items()})
    runner = kfp_v2.KubeflowV2DagRunner(
        config=kfp_v2.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=str(output.parent),
        output_filename=output.name,
    )
    return runner.run(pipeline, write_out=True)
