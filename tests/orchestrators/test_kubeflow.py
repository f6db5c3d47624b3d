"""The Kubeflow/Vertex spec: compiled from the same graph, loadable by kfp, Beam options inside."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format
from kfp import components as kfp_components
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
from tfx.dsl.components.base.base_component import BaseComponent

from pipeline.__main__ import main
from pipeline.config import PROJECT_ROOT, ConfigError, PipelineConfig, parse_run_args
from pipeline.graph.pipeline_graph import create_pipeline
from pipeline.run import run_facts
from pipeline.run.kubeflow_runner import IMAGE_PROJECT_ROOT, compile_pipeline
from tests.support.configs import SAMPLE_DATA, small_config

IMAGE = "europe-docker.pkg.dev/demo/ml/tfx-pipeline:1"
RUN_FLAGS = [
    "--data", str(SAMPLE_DATA), "--schema", "infer", "--pipeline-root", "gs://demo-bucket/root",
    "--beam-runner", "DataflowRunner",
    "--beam-args=--project=demo --region=europe-west1 --temp_location=gs://demo-bucket/tmp",
]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[PipelineConfig, dict]:
    """The CLI's spec for a Dataflow-backed pipeline, and the config it was compiled from."""
    output = tmp_path_factory.mktemp("kfp") / "pipeline.json"
    assert main(["compile-kfp", "--output", str(output), "--image", IMAGE, *RUN_FLAGS]) == 0
    return parse_run_args(RUN_FLAGS, {}), json.loads(output.read_text())


def tasks_of(spec: dict) -> dict[str, dict]:
    return spec["pipelineSpec"]["root"]["dag"]["tasks"]


def container_of(spec: dict, task: str) -> dict:
    executors = spec["pipelineSpec"]["deploymentSpec"]["executors"]
    return executors[f"{task}_executor"]["container"]


def node_of(task: str, node_ids: list[str]) -> str:
    """The component a task came from; a Resolver compiles to '<id>-<input>-resolver' tasks."""
    return next(n for n in node_ids if task == n or task.startswith(f"{n}-"))


def test_spec_is_a_valid_pipeline_job_that_kfp_loads(compiled: tuple) -> None:
    _, spec = compiled
    job = json_format.ParseDict(spec, pipeline_spec_pb2.PipelineJob())
    pipeline_spec = json_format.ParseDict(spec["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
    assert pipeline_spec.pipeline_info.name == "taxi"
    assert job.runtime_config.gcs_output_directory == "gs://demo-bucket/root"
    component = kfp_components.load_component_from_text(yaml.safe_dump(spec["pipelineSpec"]))
    assert component.name == "taxi"
    assert set(component.pipeline_spec.root.dag.tasks) == set(tasks_of(spec))


def test_yaml_output_is_a_pipeline_spec_kfp_loads_from_file(
    compiled: tuple, tmp_path: Path
) -> None:
    config, spec = compiled
    compile_pipeline(config, tmp_path / "pipeline.yaml", IMAGE)
    component = kfp_components.load_component_from_file(str(tmp_path / "pipeline.yaml"))
    assert set(component.pipeline_spec.root.dag.tasks) == set(tasks_of(spec))


def test_every_component_is_a_task_with_the_image_and_its_executor(compiled: tuple) -> None:
    config, spec = compiled
    nodes = create_pipeline(config, run_facts.compute(config)).components
    node_ids = [n.id for n in nodes]
    assert sorted({node_of(t, node_ids) for t in tasks_of(spec)}) == sorted(node_ids)
    for node in nodes:
        if not isinstance(node, BaseComponent):
            continue
        container = container_of(spec, node.id)
        executor = node.executor_spec.executor_class
        assert container["image"] == IMAGE
        assert container["command"][-1].startswith("tfx.orchestration.kubeflow.v2")
        assert container["args"][:2] == [
            "--executor_class_path", f"{executor.__module__}.{executor.__name__}"
        ]


def test_task_dependencies_are_the_upstream_components_in_order(compiled: tuple) -> None:
    config, spec = compiled
    nodes = create_pipeline(config, run_facts.compute(config)).components
    node_ids = [n.id for n in nodes]
    for task, body in tasks_of(spec).items():
        node = nodes[node_ids.index(node_of(task, node_ids))]
        depends_on = {node_of(d, node_ids) for d in body.get("dependentTasks", [])}
        if isinstance(node, BaseComponent):
            assert depends_on == {u.id for u in node.upstream_nodes}, task
        assert all(node_ids.index(d) < node_ids.index(node.id) for d in depends_on), task


def test_component_parameters_come_from_config(compiled: tuple) -> None:
    config, spec = compiled
    tasks = tasks_of(spec)

    def parameter(task: str, name: str) -> str:
        return tasks[task]["inputs"]["parameters"][name]["runtimeValue"]["constantValue"]

    assert parameter("CsvExampleGen", "input_base")["stringValue"] == str(
        IMAGE_PROJECT_ROOT / "data" / "sample"
    )
    train_args = json.loads(parameter("Trainer", "train_args")["stringValue"])
    assert train_args["num_steps"] == config.train_steps
    assert parameter("Transform", "preprocessing_fn")["stringValue"].startswith("models.")


def test_beam_options_reach_every_beam_component(compiled: tuple) -> None:
    config, spec = compiled
    beam_components = [
        n for n in create_pipeline(config, run_facts.compute(config)).components
        if isinstance(n, BaseComponent)
        and issubclass(n.executor_spec.executor_class, BaseBeamExecutor)
    ]
    assert {n.id for n in beam_components} >= {"CsvExampleGen", "Transform", "Evaluator"}
    for node in beam_components:
        args = container_of(spec, node.id)["args"]
        assert args[-len(config.beam_args):] == config.beam_args, node.id
        assert "--runner=DataflowRunner" in args and "--project=demo" in args


def test_a_local_pipeline_root_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    config = small_config(tmp_path, schema_path=None)
    with pytest.raises(ConfigError, match="pipeline_root: .* gs://"):
        compile_pipeline(config, tmp_path / "spec.json", IMAGE)
    assert not (tmp_path / "spec.json").exists()


def test_local_data_outside_the_image_is_refused(tmp_path: Path) -> None:
    config = small_config(tmp_path, schema_path=None, data_dir=tmp_path, pipeline_root="gs://b/r")
    with pytest.raises(ConfigError, match="data_dir: .* neither a URI nor inside the project"):
        compile_pipeline(config, tmp_path / "spec.json", IMAGE)


def test_the_curated_schema_is_read_from_the_image(tmp_path: Path) -> None:
    config = small_config(tmp_path, pipeline_root="gs://demo-bucket/root")
    spec = compile_pipeline(config, tmp_path / "spec.json", IMAGE)
    schema_file = tasks_of(spec)["ImportCuratedSchema"]["inputs"]["parameters"]["schema_file"]
    relative = config.schema_path.relative_to(PROJECT_ROOT)
    assert schema_file["runtimeValue"]["constantValue"]["stringValue"] == str(
        IMAGE_PROJECT_ROOT / relative
    )


@pytest.mark.taxi
def test_a_window_of_several_spans_is_refused_before_compiling(tmp_path: Path) -> None:
    from pipeline.config import parse_spans
    from tools import span_demo

    for span in (1, 2):
        header, rows = span_demo.generate_rows(PROJECT_ROOT / "data" / "taxi" / "data.csv", 5,
                                           seed=span, days=span)
        span_demo.write_span(tmp_path / "data", span, header, rows)
    config = small_config(tmp_path, data_dir=tmp_path / "data", spans=parse_spans("last-2"),
                          pipeline_root="gs://b/r")
    with pytest.raises(ConfigError, match=r"spans: last-2 selects spans \[1, 2\].*one span per run"):
        compile_pipeline(config, tmp_path / "spec.json", IMAGE)
    assert not (tmp_path / "spec.json").exists()
