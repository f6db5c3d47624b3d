"""Building the graph is pure wiring: the run's manifest comes in, nothing is read or run."""

from __future__ import annotations

import builtins
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline import vocabulary
from pipeline.config import PipelineConfig
from pipeline.config.record import config_record
from pipeline.data import fingerprints, input_files, spans
from pipeline.graph import pipeline_graph
from pipeline.run import manifest
from tests.support.configs import small_config

CURATED_SCHEMA = PipelineConfig().schema_path
# Builds TFX components (imports TFX and TensorFlow): `make test-unit` skips it.
pytestmark = pytest.mark.slow

# The node ids every runner and the recorded history know; they must not change.
SINGLE_SPAN_IDS = [
    "CsvExampleGen", "RecordRunContext", "StatisticsGen", "ImportCuratedSchema",
    "ExampleValidator", "DataGate", "Transform", "Baseline", "Trainer",
    "latest_blessed_model_resolver", "Evaluator", "ServingPusher",
]
WINDOW_IDS = [
    "CsvExampleGen_span2", "StatisticsGen_span2", "CsvExampleGen", "RecordRunContext",
    "StatisticsGen", "ImportCuratedSchema", "previous_span_statistics", "ExampleValidator_span2",
    "ExampleValidator", "DataGate", "Transform", "Baseline", "Trainer",
    "latest_blessed_model_resolver", "Evaluator", "ServingPusher",
]


def manifest_for(window: tuple[int, ...], data_dir: Path) -> vocabulary.RunManifest:
    """A manifest as a runner would compute it, made up: the graph must take it as given."""
    return vocabulary.RunManifest(
        window=window, code_fingerprint="code-fp", schema_fingerprint="schema-fp",
        preprocessing_code_fingerprint="preprocessing-fp", model_code_fingerprint="model-fp",
        data_dir=str(data_dir), data_files=("a.csv",), data_fingerprint="data-fp",
        git_commit="abc123", git_dirty=False, pipeline_code_fingerprint="pipeline-fp",
        uv_lock_sha256="lock-fp", packages=(("tfx", "1.16.0"),),
    )


def refuse(name: str):
    """A stand-in that fails the test when graph construction calls it."""
    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"graph construction called {name}{args!r}")
    return refused


@dataclass
class Guard:
    """An empty data dir, and `arm()` that from then on refuses every read and subprocess: the
    config is parsed first (reading the project's declaration is the boundary's job)."""

    data_dir: Path
    arm: Callable[[], None]


@pytest.fixture()
def nothing_read_or_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Guard:
    """No subprocess (git), no fingerprint, no fact computation, no folder listing or creation,
    no file opened under the data, models or schema folders once armed; a graph that looked at the
    empty data dir would find no span and no file."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()

    def arm() -> None:
        for name in ("run", "check_output", "check_call", "call", "Popen"):
            monkeypatch.setattr(subprocess, name, refuse(f"subprocess.{name}"))
        for name in ("data_fingerprint", "files_fingerprint", "user_code_fingerprint",
                     "project_code_fingerprint", "config_code_fingerprint",
                     "schema_fingerprint", "file_sha256", "update_with_file"):
            monkeypatch.setattr(fingerprints, name, refuse(f"fingerprints.{name}"))
        for name in ("compute", "graph_inputs", "git_commit", "package_versions", "lock_sha256",
                     "compute_run_context", "file_sha256", "schema_fingerprint",
                     "user_code_fingerprint", "config_code_fingerprint"):
            monkeypatch.setattr(manifest, name, refuse(f"manifest.{name}"))
        for name in ("resolve_spans", "list_spans", "input_folders", "input_bytes"):
            monkeypatch.setattr(spans, name, refuse(f"spans.{name}"))
        for name in ("mkdir", "glob", "rglob", "iterdir", "read_bytes", "read_text"):
            monkeypatch.setattr(Path, name, refuse(f"Path.{name}"))
        guarded = (str(data_dir), str(manifest.PROJECT_ROOT / "models"), str(CURATED_SCHEMA))
        real_open = builtins.open

        def guarded_open(file: object, *args: object, **kwargs: object):
            if str(file).startswith(guarded):
                raise AssertionError(f"graph construction opened {file}")
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", guarded_open)

    return Guard(data_dir, arm)


def test_graph_of_given_facts_reads_no_file_and_runs_nothing(
    nothing_read_or_run: Guard, tmp_path: Path
) -> None:
    config = small_config(tmp_path, data_dir=nothing_read_or_run.data_dir, schema_path=CURATED_SCHEMA)
    nothing_read_or_run.arm()
    run_manifest = manifest_for((), nothing_read_or_run.data_dir)
    pipeline = pipeline_graph.create_pipeline(config, run_manifest)
    nodes = {node.id: node for node in pipeline.components}
    assert sorted(nodes) == sorted(SINGLE_SPAN_IDS)
    assert [n.id for n in pipeline_graph.create_components(config, run_manifest)] == SINGLE_SPAN_IDS
    # The reference models read Transform's output, and the Evaluator reads their bound.
    assert nodes["Baseline"].inputs["transformed_examples"].producer_component_id == "Transform"
    assert nodes["Evaluator"].inputs["baseline_metrics"].producer_component_id == "Baseline"
    recorded = nodes["RecordRunContext"].exec_properties["context"]
    assert recorded == run_manifest.run_context_json(config_record(config))
    assert json.loads(recorded)["data_fingerprint"] == "data-fp"
    assert json.loads(recorded)["git_commit"] == "abc123"
    assert nodes["ImportCuratedSchema"].exec_properties["schema_sha256"] == "schema-fp"
    for node_id, key in (("Transform", "preprocessing-fp"), ("Trainer", "model-fp")):
        custom = json.loads(nodes[node_id].exec_properties["custom_config"])
        assert custom["code_fingerprint"] == key
        assert custom["project"] == config.declaration.code_view()
    # Transform's own statistics only on request (--transform-statistics): nothing reads them.
    assert nodes["Transform"].exec_properties["disable_statistics"] in (True, 1)
    assert "pre_transform_stats" not in nodes["Transform"].outputs
    # The TF1 graph unless --transform-tf2: the same outputs, without TF2's repeated tracing.
    assert nodes["Transform"].exec_properties["force_tf_compat_v1"] in (True, 1)
    assert sorted(os.listdir(tmp_path)) == ["data"] and os.listdir(nothing_read_or_run.data_dir) == []


def test_transform_statistics_and_eval_plots_on_request(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    config = small_config(tmp_path, data_dir=tmp_path / "data", schema_path=CURATED_SCHEMA,
                          transform_statistics=True, eval_plots=True, transform_tf2=True)
    nodes = {n.id: n for n in pipeline_graph.create_components(config, manifest_for((), tmp_path))}
    assert nodes["Transform"].exec_properties["force_tf_compat_v1"] in (False, 0)
    assert nodes["Transform"].exec_properties["disable_statistics"] in (False, 0)
    assert {"pre_transform_stats", "post_transform_stats"} <= set(nodes["Transform"].outputs)
    assert "CalibrationPlot" in nodes["Evaluator"].exec_properties["eval_config"]


def test_a_window_graph_takes_its_spans_from_the_facts(
    nothing_read_or_run: Guard, tmp_path: Path
) -> None:
    config = small_config(tmp_path, data_dir=nothing_read_or_run.data_dir, schema_path=CURATED_SCHEMA)
    nothing_read_or_run.arm()
    components = pipeline_graph.create_components(
        config, manifest_for((2, 3), nothing_read_or_run.data_dir))
    assert [node.id for node in components] == WINDOW_IDS


@pytest.mark.parametrize(("window", "asked", "enable_cache", "cached"), [
    ((), True, True, False), ((3,), True, True, False), ((2, 3), True, True, True),
    ((2, 3), False, True, False), ((2, 3), True, False, False)])
def test_only_a_window_asking_for_it_reads_the_latest_analyzer_cache(
    nothing_read_or_run: Guard, tmp_path: Path, window: tuple[int, ...], asked: bool,
    enable_cache: bool, cached: bool,
) -> None:
    """With --analyzer-cache, a window's Transform reads the newest TransformCache through a
    LatestArtifactStrategy resolver; by default, on a plain folder or one span there is no such
    input, so TFX's cache still serves Transform; `--no-cache` reuses nothing."""
    from tfx.dsl.input_resolution.strategies.latest_artifact_strategy import (
        LatestArtifactStrategy,
    )
    from tfx.types import standard_artifacts

    config = small_config(tmp_path, data_dir=nothing_read_or_run.data_dir,
                          schema_path=CURATED_SCHEMA, enable_cache=enable_cache,
                          analyzer_cache=asked)
    nothing_read_or_run.arm()
    nodes = {n.id: n for n in pipeline_graph.create_pipeline(
        config, manifest_for(window, nothing_read_or_run.data_dir)).components}
    transform = nodes["Transform"]
    assert "updated_analyzer_cache" in transform.outputs
    assert (vocabulary.ANALYZER_CACHE_RESOLVER in nodes) is cached
    assert ("analyzer_cache" in transform.inputs) is cached
    if cached:
        resolver = nodes[vocabulary.ANALYZER_CACHE_RESOLVER]
        assert resolver.exec_properties["resolver_class"] is LatestArtifactStrategy
        assert transform.inputs["analyzer_cache"].type is standard_artifacts.TransformCache
        assert resolver.inputs["analyzer_cache"].type is standard_artifacts.TransformCache
        assert resolver in transform.upstream_nodes


def test_graph_inputs_need_the_text_to_record(nothing_read_or_run: Guard, tmp_path: Path) -> None:
    """Without the full manifest, the orchestrator says what RecordRunContext records (Airflow:
    a template rendered when the task runs)."""
    config = small_config(tmp_path, data_dir=nothing_read_or_run.data_dir, schema_path=None)
    nothing_read_or_run.arm()
    inputs = vocabulary.GraphInputs(window=(), code_fingerprint="c", schema_fingerprint="inferred",
                                   preprocessing_code_fingerprint="p", model_code_fingerprint="m")
    with pytest.raises(TypeError, match="RunManifest"):
        pipeline_graph.create_components(config, inputs)
    nodes = pipeline_graph.create_components(config, inputs, run_context="{{ later() }}")
    context = next(n for n in nodes if n.id == "RecordRunContext").exec_properties["context"]
    assert context == "{{ later() }}"


def test_computed_manifest_records_what_the_run_context_always_held(tmp_path: Path) -> None:
    config = small_config(tmp_path, schema_path=CURATED_SCHEMA)
    window = spans.resolve_spans(config.data_dir, config.spans)
    run_manifest = manifest.compute(config)
    context = run_manifest.run_context(config_record(config))
    files = [f for folder in spans.input_folders(config.data_dir, window)
             for f in input_files.data_files(folder)]
    assert run_manifest.window == window
    assert context["data_files"] == [str(f) for f in files]
    assert context["data_fingerprint"] == fingerprints.data_fingerprint(files)
    assert context["code_fingerprint"] == fingerprints.config_code_fingerprint(config)
    assert context["schema_fingerprint"] == fingerprints.schema_fingerprint(config)
    assert context["packages"] == manifest.package_versions()
    assert context["config"] == config_record(config)
    assert set(context) == {
        "data_dir", "data_span", "data_files", "data_fingerprint", "git_commit", "git_dirty",
        "code_fingerprint", "pipeline_code_fingerprint", "schema_fingerprint", "uv_lock_sha256",
        "packages", "config",
    }
