"""A task killed is retried the way Airflow does it (a fresh process, the same DAG run): killed
mid-run, the retry resumes the execution ML Metadata registered and succeeds on a clean output
folder; killed after its execution was published (before Airflow recorded success), the retry
reuses the published result without running the component again.

Two tiny Python components launched by TFX's legacy launcher, as AirflowComponent launches them
(tfx.orchestration.airflow.airflow_component._airflow_component_launcher): seconds, no Airflow
scheduler, no TensorFlow training.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT

pytestmark = [pytest.mark.orchestrator, pytest.mark.slow]

# Runs one component of the tiny pipeline in this process, as an Airflow task does.
TASK = r'''
import json, os, signal, sys
from pathlib import Path
from tfx import v1 as tfx
from tfx.dsl.component.experimental.annotations import OutputArtifact, InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.orchestration import data_types, metadata
from tfx.orchestration.config import pipeline_config
from tfx.orchestration.launcher.in_process_component_launcher import InProcessComponentLauncher
from tfx.types.standard_artifacts import Examples, Model

root, node, safe, kill = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "safe", sys.argv[4]
marker = root / "killed_once"
if safe:
    from pipeline.run import airflow_retry
    airflow_retry.install()

@component
def Producer(examples: OutputArtifact[Examples]):
    Path(examples.uri, "rows.txt").write_text("1\n2\n3\n")

@component
def Consumer(examples: InputArtifact[Examples], model: OutputArtifact[Model]):
    with (root / "consumer_runs").open("a") as runs:
        runs.write(f"{model.uri}\n")
    if kill == "mid" and not marker.exists():  # the first attempt dies half-way through its output
        marker.write_text("")
        Path(model.uri, "partial.bin").write_text("half")
        os.kill(os.getpid(), signal.SIGKILL)
    rows = Path(examples.uri, "rows.txt").read_text().split()
    Path(model.uri, "model.json").write_text(json.dumps({"rows": len(rows)}))

producer = Producer()
consumer = Consumer(examples=producer.outputs["examples"])
pipeline = tfx.dsl.Pipeline(pipeline_name="retry", pipeline_root=str(root / "artifacts"),
                            components=[producer, consumer])
connection = tfx.orchestration.metadata.sqlite_metadata_connection_config(str(root / "mlmd.sqlite"))
chosen = {"Producer": producer, "Consumer": consumer}[node]
info = data_types.PipelineInfo(pipeline_name="retry", pipeline_root=str(root / "artifacts"),
                               run_id="manual__2026-01-01")
launcher = InProcessComponentLauncher.create(
    component=chosen, pipeline_info=info,
    driver_args=data_types.DriverArgs(enable_cache=False),
    metadata_connection=metadata.Metadata(connection), beam_pipeline_args=[],
    additional_pipeline_args={}, component_config=None)
launcher.launch()
if node == "Consumer" and kill == "after" and not marker.exists():
    marker.write_text("")  # published in ML Metadata, killed before Airflow records success
    os.kill(os.getpid(), signal.SIGKILL)
'''


def _task(root: Path, node: str, safe: bool, kill: str) -> subprocess.CompletedProcess:
    """One attempt of one task, in a fresh interpreter (Airflow runs each attempt so)."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    argv = [str(root), node, "safe" if safe else "tfx", kill]
    return subprocess.run([sys.executable, "-c", TASK, *argv],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)


def _run_killed_then_retried(root: Path, safe: bool, kill: str) -> subprocess.CompletedProcess:
    """Producer, then Consumer killed once (`mid` its run or `after` its publish), then
    Consumer's retry (its outcome)."""
    root.mkdir()
    assert _task(root, "Producer", safe, kill).returncode == 0
    killed = _task(root, "Consumer", safe, kill)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    return _task(root, "Consumer", safe, kill)


def _consumer_record(root: Path) -> tuple[list[str], list[str], int]:
    """Consumer's executions in ML Metadata: their states, the event types of the only one,
    and how many Model artifacts the store holds."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(root / "mlmd.sqlite")
    store = metadata_store.MetadataStore(config)
    consumer = [e for e in store.get_executions()
                if e.properties["component_id"].string_value == "Consumer"]
    events = store.get_events_by_execution_ids([consumer[0].id])
    event_types = sorted(metadata_store_pb2.Event.Type.Name(e.type) for e in events)
    return ([e.properties["state"].string_value for e in consumer], event_types,
            len(store.get_artifacts_by_type("Model")))


def _one_published_model(root: Path) -> Path:
    """The only Model folder, holding the finished model (no partial file)."""
    [model] = (root / "artifacts" / "Consumer" / "model").iterdir()
    assert json.loads((model / "model.json").read_text()) == {"rows": 3}
    assert not (model / "partial.bin").exists()
    return model


# One execution, completed, with one input and one output event; one Model artifact.
ONE_COMPLETE_EXECUTION = (["complete"], ["INPUT", "OUTPUT"], 1)


def test_a_killed_task_is_retried_to_success_on_a_clean_output(tmp_path: Path) -> None:
    root = tmp_path / "safe"
    retry = _run_killed_then_retried(root, safe=True, kill="mid")
    assert retry.returncode == 0, retry.stderr[-3000:]
    model = _one_published_model(root)
    assert _consumer_record(root) == ONE_COMPLETE_EXECUTION
    assert (root / "consumer_runs").read_text().split() == [str(model)] * 2


def test_a_task_killed_after_publishing_is_retried_on_its_published_result(tmp_path: Path) -> None:
    """The component does not run again: its published output stays as it was, nothing doubles."""
    root = tmp_path / "published"
    retry = _run_killed_then_retried(root, safe=True, kill="after")
    assert retry.returncode == 0, retry.stderr[-3000:]
    assert "was already published; reusing it" in retry.stderr
    model = _one_published_model(root)
    assert _consumer_record(root) == ONE_COMPLETE_EXECUTION
    assert (root / "consumer_runs").read_text().split() == [str(model)]


def test_without_the_fix_tfx_refuses_the_retry(tmp_path: Path) -> None:
    """The failure the fix removes, so the test above cannot pass by accident."""
    retry = _run_killed_then_retried(tmp_path / "tfx", safe=False, kill="mid")
    assert retry.returncode != 0
    assert "Given event already exists" in retry.stderr
