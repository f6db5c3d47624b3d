"""The Kubeflow/Vertex spec: compiled from the same graph, loadable by kfp, Beam options inside."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format
from kfp import components as kfp_components
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
from tfx.dsl.components.base.base_component import BaseComponent
from tfx.proto.pusher_pb2 import PushDestination
from tfx.proto.range_config_pb2 import RangeConfig

from pipeline.__main__ import main
from pipeline.config import PROJECT_ROOT, ConfigError, PipelineConfig
from pipeline.graph.pipeline_graph import create_pipeline
from pipeline.run import manifest
from pipeline.run.kubeflow_runner import IMAGE_PROJECT_ROOT, compile_pipeline
from tests.support.configs import SAMPLE_DATA, parse_run_args, small_config

IMAGE = "europe-docker.pkg.dev/demo/ml/tfx-pipeline:1"
SERVING_URI = "gs://demo-bucket/serving_model"
RUN_FLAGS = [
    "--data", str(SAMPLE_DATA), "--allow-local-paths", "--serving-dir", SERVING_URI,
    "--schema", "infer", "--pipeline-root", "gs://demo-bucket/root",
    "--beam-runner", "DataflowRunner",
    "--beam-args=--project=demo --region=europe-west1 --temp_location=gs://demo-bucket/tmp",
]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[PipelineConfig, dict]:
    """The CLI's spec for a Dataflow-backed pipeline, and the config it was compiled from."""
    output = tmp_path_factory.mktemp("kfp") / "pipeline.json"
    assert main(["compile-kfp", "--output", str(output), "--image", IMAGE, *RUN_FLAGS]) == 0
    config = parse_run_args([f for f in RUN_FLAGS if f != "--allow-local-paths"], {})
    return config, json.loads(output.read_text())


def parameter(spec: dict, task: str, name: str) -> str:
    """A task's constant input parameter, as the spec's JSON holds it."""
    value = tasks_of(spec)[task]["inputs"]["parameters"][name]["runtimeValue"]["constantValue"]
    return value["stringValue"]


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
    compile_pipeline(config, tmp_path / "pipeline.yaml", IMAGE, allow_local_paths=True)
    component = kfp_components.load_component_from_file(str(tmp_path / "pipeline.yaml"))
    assert set(component.pipeline_spec.root.dag.tasks) == set(tasks_of(spec))


def test_every_component_is_a_task_with_the_image_and_its_executor(compiled: tuple) -> None:
    config, spec = compiled
    nodes = create_pipeline(config, manifest.compute(config)).components
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
    nodes = create_pipeline(config, manifest.compute(config)).components
    node_ids = [n.id for n in nodes]
    for task, body in tasks_of(spec).items():
        node = nodes[node_ids.index(node_of(task, node_ids))]
        depends_on = {node_of(d, node_ids) for d in body.get("dependentTasks", [])}
        if isinstance(node, BaseComponent):
            assert depends_on == {u.id for u in node.upstream_nodes}, task
        assert all(node_ids.index(d) < node_ids.index(node.id) for d in depends_on), task


def test_component_parameters_come_from_config(compiled: tuple) -> None:
    config, spec = compiled
    assert parameter(spec, "CsvExampleGen", "input_base") == str(
        IMAGE_PROJECT_ROOT / "data" / "sample"
    )
    train_args = json.loads(parameter(spec, "Trainer", "train_args"))
    assert train_args["num_steps"] == config.train_steps
    assert parameter(spec, "Transform", "preprocessing_fn").startswith("models.")
    destination = json_format.Parse(parameter(spec, "ServingPusher", "push_destination"),
                                    PushDestination())
    assert destination.filesystem.base_directory == f"{SERVING_URI}/taxi"


def test_beam_options_reach_every_beam_component(compiled: tuple) -> None:
    config, spec = compiled
    beam_components = [
        n for n in create_pipeline(config, manifest.compute(config)).components
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
        compile_pipeline(config, tmp_path / "spec.json", IMAGE, allow_local_paths=True)


def test_the_curated_schema_is_read_from_the_image(tmp_path: Path) -> None:
    config = small_config(tmp_path, pipeline_root="gs://demo-bucket/root")
    spec = compile_pipeline(config, tmp_path / "spec.json", IMAGE, allow_local_paths=True)
    schema_file = tasks_of(spec)["ImportCuratedSchema"]["inputs"]["parameters"]["schema_file"]
    relative = config.schema_path.relative_to(PROJECT_ROOT)
    assert schema_file["runtimeValue"]["constantValue"]["stringValue"] == str(
        IMAGE_PROJECT_ROOT / relative
    )


def test_a_window_of_several_spans_is_refused_before_compiling(tmp_path: Path) -> None:
    from pipeline.config import parse_spans

    data = _ram_spans("ram://kfp-window/data", (1, 2))
    config = small_config(tmp_path, data_dir=data, spans=parse_spans("last-2"),
                          serving_dir=SERVING_URI, pipeline_root="gs://b/r")
    with pytest.raises(ConfigError, match=r"spans: last-2 selects spans \[1, 2\].*one span per run"):
        compile_pipeline(config, tmp_path / "spec.json", IMAGE)
    assert not (tmp_path / "spec.json").exists()


@pytest.mark.parametrize(("flags", "field", "value"), [
    # The error line shows a path under the working directory relative: its tail is in either form.
    (["--data", str(SAMPLE_DATA), "--serving-dir", SERVING_URI], "data_dir",
     str(SAMPLE_DATA.relative_to(PROJECT_ROOT))),
    (["--data", "gs://demo-bucket/data"], "serving_dir", "state/serving_model"),
])
def test_a_local_data_or_serving_dir_is_refused_naming_the_flag(
    flags: list[str], field: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "spec.json"
    argv = ["compile-kfp", "--output", str(output), "--pipeline-root", "gs://demo-bucket/root",
            "--schema", "infer", *flags]
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: invalid config {field}: ")
    assert value in lines[0] and "--allow-local-paths" in lines[0]
    assert not output.exists()


def _ram_spans(root: str, spans: tuple[int, ...]) -> str:
    """span-N folders of the sample CSV on TensorFlow's ram:// filesystem (a non-local URI)."""
    import tensorflow as tf

    csv = next(SAMPLE_DATA.glob("*.csv")).read_text()
    for span in spans:
        tf.io.gfile.makedirs(f"{root}/span-{span}")
        with tf.io.gfile.GFile(f"{root}/span-{span}/data.csv", "w") as handle:
            handle.write(csv)
    return root


def _span_of(spec: dict, task: str) -> int:
    """The span a compiled ExampleGen task is pinned to (its static range_config)."""
    static = json_format.Parse(parameter(spec, task, "range_config"), RangeConfig()).static_range
    assert static.start_span_number == static.end_span_number
    return static.start_span_number


def test_a_single_span_compiles_with_the_previous_span_as_drift_baseline(tmp_path: Path) -> None:
    data = _ram_spans("ram://kfp-spans/data", (1, 3))
    output = tmp_path / "spec.json"
    assert main(["compile-kfp", "--output", str(output), "--image", IMAGE, "--data", data,
                 "--spans", "3", "--serving-dir", SERVING_URI, "--schema", "infer",
                 "--pipeline-root", "gs://demo-bucket/root"]) == 0
    spec = json.loads(output.read_text())
    tasks = tasks_of(spec)
    assert "previous_span_statistics" not in tasks
    assert _span_of(spec, "CsvExampleGen") == 3 and _span_of(spec, "CsvExampleGen_span1") == 1
    assert parameter(spec, "CsvExampleGen_span1", "input_base") == data
    assert tasks["StatisticsGen_span1"]["dependentTasks"] == ["CsvExampleGen_span1"]
    baseline = tasks["ExampleValidator"]["inputs"]["artifacts"]["previous_statistics"]
    assert baseline["taskOutputArtifact"]["producerTask"] == "StatisticsGen_span1"
    assert set(tasks["Transform"]["dependentTasks"]) == {"CsvExampleGen", "DataGate"}


def test_the_first_span_has_no_drift_baseline_and_no_resolver(tmp_path: Path) -> None:
    span = tmp_path / "data" / "span-1"
    span.mkdir(parents=True)
    shutil.copy(SAMPLE_DATA / "data.csv", span / "data.csv")  # the run manifest reads the span's files
    config = small_config(tmp_path, schema_path=None, pipeline_root="gs://b/r",
                          data_dir=tmp_path / "data")
    run_manifest = manifest.compute(config, (1,))
    ids = [n.id for n in create_pipeline(config, run_manifest, drift_baseline=()).components]
    assert not any(i.startswith(("previous_span", "CsvExampleGen_span")) for i in ids), ids
    local = [n.id for n in create_pipeline(config, run_manifest).components]
    assert "previous_span_statistics" in local


def test_the_analyzer_cache_resolver_of_a_window_compiles(tmp_path: Path) -> None:
    """The window's analyzer-cache resolver is one Kubeflow's V2 compiler accepts: a task that
    queries the latest TransformCache and feeds Transform's analyzer_cache. (compile-kfp refuses a
    whole window only for the channel union into Transform.)"""
    from tfx import v1 as tfx

    from pipeline.graph import pipeline_graph

    examples = tfx.dsl.Importer(source_uri="gs://b/examples", artifact_type=(
        tfx.types.standard_artifacts.Examples)).with_id("examples")
    schema = tfx.dsl.Importer(source_uri="gs://b/schema", artifact_type=(
        tfx.types.standard_artifacts.Schema)).with_id("schema")
    resolver = pipeline_graph.analyzer_cache_resolver()
    transform = tfx.components.Transform(
        examples=examples.outputs["result"], schema=schema.outputs["result"],
        preprocessing_fn="models.common.preprocessing.preprocessing_fn",
        analyzer_cache=resolver.outputs["analyzer_cache"])
    pipeline = tfx.dsl.Pipeline(pipeline_name="cache", pipeline_root="gs://b/r",
                                components=[examples, schema, resolver, transform])
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=IMAGE),
        output_dir=str(tmp_path), output_filename="spec.json")
    spec = runner.run(pipeline, write_out=True)
    tasks = tasks_of(spec)
    assert resolver.id in tasks
    cache_input = tasks["Transform"]["inputs"]["artifacts"]["analyzer_cache"]
    assert cache_input["taskOutputArtifact"] == {
        "producerTask": resolver.id, "outputArtifactKey": "analyzer_cache"}
    executor = spec["pipelineSpec"]["deploymentSpec"]["executors"][f"{resolver.id}_executor"]
    query = executor["resolver"]["outputArtifactQueries"]["analyzer_cache"]
    assert query == {"filter": 'schema_title="tfx.TransformCache" AND state=LIVE'}
