"""Training on a window of spans: a range, a sliding rolling window, drift inside it, a bad range."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from ml_metadata.proto import metadata_store_pb2

from pipeline.config import PROJECT_ROOT, PipelineConfig, parse_spans
from pipeline.data import fingerprints
from pipeline.metadata import records
from pipeline.run import reproduce
from pipeline.serving import layout
from tests.support.configs import small_config, span_files
from tests.support.run_records import runs_by_node, store_of
from tools import span_demo
from tools import taxi as features

pytestmark = [pytest.mark.e2e, pytest.mark.taxi]
SOURCE = PROJECT_ROOT / "data" / "taxi" / "data.csv"
SPAN_ROWS = 250
TRAIN_STEPS = 5


def window_config(root: Path, selection: str) -> PipelineConfig:
    """Tiny config on the span data dir with a span selection, reading the analyzer cache of
    earlier runs; min_auc 0: blessing is not tested."""
    return small_config(root, data_dir=root / "data", spans=parse_spans(selection),
                        train_steps=TRAIN_STEPS, eval_steps=2, min_auc=0.0, analyzer_cache=True)


def write_span(data: Path, span: int, drift: span_demo.Drift = span_demo.NO_DRIFT) -> None:
    """A generated span folder (seeded by its number)."""
    header, rows = span_demo.generate_rows(SOURCE, SPAN_ROWS, seed=span, days=7 * span, drift=drift)
    span_demo.write_span(data, span, header, rows)


@dataclass(frozen=True)
class WindowRuns:
    """A run on the range 1-3, then, with span 4 landed, a run on the rolling window last-3."""

    root: Path
    ranged: PipelineConfig
    rolling: PipelineConfig
    first_run: str
    second_run: str
    seconds: tuple[float, float]


@pytest.fixture(scope="module")
def window_runs(tmp_path_factory: pytest.TempPathFactory) -> WindowRuns:
    from pipeline.run.local_runner import run_pipeline

    root = tmp_path_factory.mktemp("span_window")
    for span in (1, 2, 3):
        write_span(root / "data", span)
    ranged = window_config(root, "1-3")
    started = time.monotonic()
    first = run_pipeline(ranged)
    first_seconds = time.monotonic() - started
    write_span(root / "data", 4)
    rolling = window_config(root, "last-3")
    started = time.monotonic()
    second = run_pipeline(rolling)
    seconds = (first_seconds, time.monotonic() - started)
    print(f"window runs: range 1-3 {seconds[0]:.0f} s, last-3 after span 4 {seconds[1]:.0f} s")
    return WindowRuns(root, ranged, rolling, first.summary.run_id, second.summary.run_id, seconds)


def inputs_of(config: PipelineConfig, execution_id: int, key: str) -> list:
    """The artifacts an execution read under `key`, by id."""
    store = store_of(config)
    events = store.get_events_by_execution_ids([execution_id])
    ids = [e.artifact_id for e in events if e.type == metadata_store_pb2.Event.INPUT
           and e.path.steps and e.path.steps[0].key == key]
    return sorted(store.get_artifacts_by_id(ids), key=lambda a: a.id)


def span_of(artifact) -> int:
    return artifact.custom_properties["span"].int_value


def examples_by_node(runs: dict[str, records.ComponentRun]) -> dict[str, object]:
    """Each ExampleGen node's output Examples artifact."""
    return {node: run.outputs["examples"][0] for node, run in runs.items()
            if node.startswith("CsvExampleGen")}


def test_a_range_trains_on_every_span_of_the_window(window_runs: WindowRuns) -> None:
    config = window_runs.ranged
    runs = runs_by_node(config, window_runs.first_run)
    produced = examples_by_node(runs)
    assert {node: span_of(a) for node, a in produced.items()} == {
        "CsvExampleGen_span1": 1, "CsvExampleGen_span2": 2, "CsvExampleGen": 3}
    transform_inputs = inputs_of(config, runs["Transform"].execution.id, "examples")
    assert sorted(a.id for a in transform_inputs) == sorted(a.id for a in produced.values())
    transformed = runs["Transform"].outputs["transformed_examples"]
    trainer_inputs = inputs_of(config, runs["Trainer"].execution.id, "examples")
    assert len(transformed) == 3
    assert sorted(a.id for a in trainer_inputs) == sorted(a.id for a in transformed)
    [evaluated] = inputs_of(config, runs["Evaluator"].execution.id, "examples")
    assert evaluated.id == produced["CsvExampleGen"].id
    assert {node: run.state for node, run in runs.items()}["ServingPusher"] == "COMPLETE"


def test_each_span_is_validated_against_the_previous_one(window_runs: WindowRuns) -> None:
    runs = runs_by_node(window_runs.ranged, window_runs.first_run)
    gate_inputs = inputs_of(window_runs.ranged, runs["DataGate"].execution.id, "anomalies")
    assert sorted(records.custom_property(a, "span") for a in gate_inputs) == [1, 2, 3]
    baselines = {
        node: records.custom_property(runs[node].outputs["anomalies"][0], "drift_baseline")
        for node in ("ExampleValidator_span1", "ExampleValidator_span2", "ExampleValidator")}
    statistics = {node: runs[node].outputs["statistics"][0].uri
                  for node in ("StatisticsGen_span1", "StatisticsGen_span2")}
    assert baselines == {"ExampleValidator_span1": "none",
                         "ExampleValidator_span2": statistics["StatisticsGen_span1"],
                         "ExampleValidator": statistics["StatisticsGen_span2"]}


def test_the_run_context_and_lineage_name_every_span(window_runs: WindowRuns, capsys) -> None:
    from pipeline.__main__ import main
    from pipeline.metadata import pushes

    config = window_runs.ranged
    context = pushes.recorded_run_context(store_of(config), window_runs.first_run)
    files = [f for span in (1, 2, 3) for f in span_files(config.data_dir, span)]
    assert context["data_span"] == "1-3" and json.loads(context["data_spans"]) == [1, 2, 3]
    assert context["data_fingerprint"] == fingerprints.data_fingerprint(files)
    recorded = reproduce.recorded_context(store_of(config), window_runs.second_run)
    assert str(reproduce.scratch_config(recorded, window_runs.root / "scratch").spans) == "2-4"
    code = main(["lineage", "--version", "1", "--metadata", str(config.metadata_path),
                 "--pipeline-name", config.pipeline_name])
    out = capsys.readouterr().out
    assert code == 0
    assert "(span 3, version" in out and "spans           1, 2, 3 (Transform and Trainer)" in out


def test_a_sliding_window_reuses_the_cached_example_gens(window_runs: WindowRuns) -> None:
    first = runs_by_node(window_runs.ranged, window_runs.first_run)
    second = runs_by_node(window_runs.rolling, window_runs.second_run)
    states = {node: run.state for node, run in second.items()}
    # Span 2 keeps its node id: served from cache, the same artifact as in the first run.
    assert states["CsvExampleGen_span2"] == "CACHED"
    assert states["StatisticsGen_span2"] == "CACHED"
    assert examples_by_node(second)["CsvExampleGen_span2"].id == (
        examples_by_node(first)["CsvExampleGen_span2"].id)
    # Span 3 was the newest ('CsvExampleGen'); its id changed, and TFX's cache key includes it.
    assert states["CsvExampleGen_span3"] == "COMPLETE" and states["CsvExampleGen"] == "COMPLETE"
    assert "CsvExampleGen_span1" not in states
    transform_inputs = inputs_of(window_runs.rolling, second["Transform"].execution.id, "examples")
    assert sorted(span_of(a) for a in transform_inputs) == [2, 3, 4]
    cached = sorted(node for node, state in states.items() if state == "CACHED")
    print(f"cached in the sliding run: {cached}")


def cache_key(examples) -> str:
    """The folder tf.Transform's analyzer cache keeps for an Examples artifact's train split
    (TFX's own rule: a dataset is keyed by its file pattern, i.e. by the artifact's URI)."""
    from tfx.components.transform.executor import _Dataset
    from tfx.utils import io_utils

    pattern = io_utils.all_files_pattern(f"{examples.uri}/Split-train")
    return _Dataset(pattern, "tfrecords_gzip", 0, None).dataset_key.key


def cold_transform_graph(config: PipelineConfig, transform_id: int, output: Path) -> str:
    """Transform's executor re-run on an execution's inputs with no analyzer cache (analysis
    only: no statistics, nothing materialized); the transform graph's folder."""
    from tfx.components.transform.executor import Executor
    from tfx.types import artifact_utils, standard_artifacts

    store = store_of(config)
    [execution] = store.get_executions_by_id([transform_id])

    def artifacts(key: str) -> list:
        found = inputs_of(config, transform_id, key)
        types = {t.id: t for t in store.get_artifact_types_by_id([a.type_id for a in found])}
        return [artifact_utils.deserialize_artifact(types[a.type_id], a) for a in found]

    graph, cache = standard_artifacts.TransformGraph(), standard_artifacts.TransformCache()
    graph.uri, cache.uri = str(output / "graph"), str(output / "cache")
    properties = {key: records.custom_property(execution, key)
                  for key in ("preprocessing_fn", "custom_config", "splits_config")}
    Executor().Do({"examples": artifacts("examples"), "schema": artifacts("schema")},
                  {"transform_graph": [graph], "updated_analyzer_cache": [cache]},
                  {**properties, "disable_statistics": 1, "force_tf_compat_v1": 0})
    return graph.uri


def transformed(graph_uri: str, serialized: list[bytes]) -> dict[str, object]:
    """The transform graph applied to serialized tf.Examples, as numpy arrays (through the Keras
    layer: transform_raw_features runs a TF1 graph, Transform's default, only outside eager mode)."""
    import tensorflow as tf
    import tensorflow_transform as tft

    output = tft.TFTransformOutput(graph_uri)
    raw = tf.io.parse_example(tf.constant(serialized), output.raw_feature_spec())
    return {name: tf.sparse.to_dense(value).numpy() if isinstance(value, tf.SparseTensor)
            else value.numpy() for name, value in output.transform_features_layer()(raw).items()}


def test_a_sliding_window_reads_analysed_spans_from_the_analyzer_cache(
    window_runs: WindowRuns, tmp_path: Path
) -> None:
    """Span 2, analysed by the 1-3 run, is read from that run's analyzer cache by the 2-4 run
    (same Examples artifact, same key); the graph equals a cold analysis of spans 2-4."""
    import numpy as np
    import tensorflow as tf
    from tfx.dsl.io import fileio

    first = runs_by_node(window_runs.ranged, window_runs.first_run)
    second = runs_by_node(window_runs.rolling, window_runs.second_run)
    [written] = first["Transform"].outputs["updated_analyzer_cache"]
    transform_id = second["Transform"].execution.id
    [read] = inputs_of(window_runs.rolling, transform_id, "analyzer_cache")
    assert read.id == written.id
    analysed = {span_of(a): cache_key(a)
                for a in inputs_of(window_runs.ranged, first["Transform"].execution.id, "examples")}
    assert set(fileio.listdir(written.uri)) >= set(analysed.values())
    window = {span_of(a): cache_key(a) for a in inputs_of(window_runs.rolling, transform_id, "examples")}
    # Span 2 kept its ExampleGen (same artifact, same key): a hit. Span 3 was re-ingested under
    # its new node id (a new artifact): a miss, analysed again; span 4 is new.
    assert window[2] == analysed[2] and window[3] != analysed[3]
    [updated] = second["Transform"].outputs["updated_analyzer_cache"]
    assert set(fileio.listdir(updated.uri)) >= set(window.values())
    cold = cold_transform_graph(window_runs.rolling, transform_id, tmp_path)
    cached_graph = second["Transform"].outputs["transform_graph"][0].uri
    [newest] = second["CsvExampleGen"].outputs["examples"]
    files = sorted(fileio.glob(f"{newest.uri}/Split-eval/*"))
    rows = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP").take(64)]
    expected, actual = transformed(cold, rows), transformed(cached_graph, rows)
    assert sorted(actual) == sorted(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(actual[name], value, err_msg=name)


def test_a_drifted_span_inside_the_window_stops_the_run(window_runs: WindowRuns) -> None:
    from pipeline.run.local_runner import PipelineRunError, run_pipeline

    config = window_runs.rolling
    base = layout.model_base_path(config.serving_dir, config.model_name)
    served = layout.list_versions(base)
    write_span(config.data_dir, 5, span_demo.DEMO_DRIFT)
    write_span(config.data_dir, 6)
    started = time.monotonic()
    with pytest.raises(PipelineRunError) as stopped:
        run_pipeline(config)
    print(f"drifted window 4-6 stopped after {time.monotonic() - started:.0f} s")
    message = str(stopped.value)
    assert "DataGate failed" in message
    assert f"span 5 train: feature '{features.PAYMENT_TYPE_KEY}': The Linfty distance" in message
    assert "span 4 " not in message
    run_id = records.latest_run_id(store_of(config), config.pipeline_name)
    states = {node: run.state for node, run in runs_by_node(config, run_id).items()}
    assert states["DataGate"] == "FAILED"
    assert "Transform" not in states and "Trainer" not in states
    assert layout.list_versions(base) == served


def test_a_range_with_a_missing_span_is_a_config_error(tmp_path: Path) -> None:
    for span in (1, 2, 4):
        write_span(tmp_path / "data", span)
    config = window_config(tmp_path, "1-4")
    command = [sys.executable, "-m", "pipeline", "run", "--data", str(config.data_dir),
               "--spans", "1-4", "--pipeline-root", str(config.pipeline_root),
               "--metadata", str(config.metadata_path), "--serving-dir", str(config.serving_dir),
               "--log-dir", str(config.log_dir)]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"{config.data_dir} is missing span(s) 3 of the selected range 1-4" in done.stderr
    assert not config.metadata_path.exists() and not config.log_dir.exists()
