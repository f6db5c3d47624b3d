"""The pipeline on Airflow: the DAG mirrors the pipeline graph, and a real scheduler runs it.

A real scheduler (SequentialExecutor, SQLite) runs the project's DAG on the sample data to a pushed
model recorded in MLMD. Every task there is a new process importing TensorFlow (about a minute on
2 busy cores), so the bad-data run, which must fail at DataGate without running anything
downstream, runs its tasks in one process with `airflow dags test` instead.
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import os
import socket
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT, PipelineConfig, config_from_values, env_values
from pipeline.metadata import connection, records
from pipeline.run import airflow_server
from tests.support.configs import SAMPLE_DATA, small_config
from tools import taxi as features

pytestmark = pytest.mark.airflow

CURATED_SCHEMA = PipelineConfig().schema_path
BAD_PIPELINE = "taxi_bad_data"
RUN_ID = "e2e_sample"
RUN_TIMEOUT_SECONDS = 20 * 60
FINISHED = {"success", "failed"}
SYNC_TASK = "mlflow_sync"  # pipeline.mirror.airflow_task.TASK_ID
SKIPPED_STATES = {"upstream_failed", None}
BAD_DAG_FILE = '''"""Airflow test DAG: the project's DAG factory on data that breaks the schema."""
import os

from pipeline import environment
from pipeline.run.airflow_runner import build_dag, settings_from_env
from pipeline.config import config_from_values, env_values

environment.prepare()
DAG = build_dag(
    config_from_values({{**env_values(os.environ), **{values!r}}}), settings_from_env(os.environ)
)
'''


def pipeline_env(config: PipelineConfig) -> dict[str, str]:
    """PIPELINE_* variables that make Airflow's processes parse exactly this config."""
    env = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if isinstance(value, tuple) or not field.init:
            continue
        if value is None and field.name != "schema_path":
            continue  # left to the project's declaration, as in the config itself
        text = "infer" if value is None else value.value if isinstance(value, enum.Enum) else value
        env[f"PIPELINE_{field.name.upper()}"] = str(text)
    return env


def e2e_config(root: Path) -> PipelineConfig:
    """The sample with few steps under root; the curated schema when there is one."""
    return small_config(
        root,
        schema_path=CURATED_SCHEMA if CURATED_SCHEMA.is_file() else None,
        # A folder that does not exist yet: the DAG's tasks must create it.
        metadata_path=root / "metadata" / "metadata.sqlite",
    )


def components_by_id(config: PipelineConfig) -> dict:
    """The pipeline's components (the graph Airflow must reproduce) by id."""
    from pipeline.graph.pipeline_graph import create_pipeline
    from pipeline.run import run_facts

    return {c.id: c for c in create_pipeline(config, run_facts.compute(config)).components}


def downstream_of(components: dict, node_id: str) -> set[str]:
    """Every component that transitively consumes the outputs of `node_id`."""
    found: set[str] = set()
    pending = [node_id]
    while pending:
        for node in components[pending.pop()].downstream_nodes:
            if node.id not in found:
                found.add(node.id)
                pending.append(node.id)
    return found


def test_dag_folder_mirrors_pipeline_graph(tmp_path: Path, monkeypatch) -> None:
    """DagBag imports the project's DAG folder; tasks and edges are the pipeline's components."""
    config = e2e_config(tmp_path)
    assert config_from_values(env_values(pipeline_env(config))) == config
    env = airflow_server.airflow_environment(
        tmp_path / "airflow_home", airflow_server.DAGS_FOLDER,
        {**os.environ, **pipeline_env(config), "PIPELINE_AIRFLOW_RETRIES": "3"},
    )
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from airflow.models import DagBag

    from pipeline.run.airflow_runner import DEFAULT_START_DATE, AirflowSettings

    started = time.monotonic()
    bag = DagBag(dag_folder=str(airflow_server.DAGS_FOLDER), include_examples=False)
    print(f"DagBag parse of {airflow_server.DAGS_FOLDER}: {time.monotonic() - started:.1f} s")

    assert bag.import_errors == {}
    # PIPELINE_PROJECT is set: one pipeline DAG, that project's, and its monitoring DAG.
    assert sorted(bag.dag_ids) == sorted([config.pipeline_name, f"{config.project}_monitoring"])
    dag = bag.dags[config.pipeline_name]
    components = components_by_id(config)
    assert set(dag.task_ids) == set(components) | {SYNC_TASK}  # + the MLflow mirror's teardown
    for node_id, component in components.items():
        task = dag.get_task(node_id)
        assert task.upstream_task_ids == {n.id for n in component.upstream_nodes}, node_id
        assert task.downstream_task_ids - {SYNC_TASK} == {
            n.id for n in component.downstream_nodes}, node_id
        assert task.retries == (0 if node_id == "DataGate" else 3), node_id
    assert dag.schedule_interval == AirflowSettings().schedule == "@daily"
    assert dag.catchup is False
    assert dag.start_date == DEFAULT_START_DATE


@dataclass(frozen=True)
class DagRunFacts:
    """How a DAG run ended, read from Airflow's database."""

    config: PipelineConfig
    run_id: str
    state: str
    task_states: dict[str, str | None]
    seconds: float


def _query(db: Path, sql: str, *params: object) -> list[tuple]:
    """Read Airflow's SQLite database without writing to it."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as connection:
        return connection.execute(sql, params).fetchall()


def _task_states(db: Path, dag_id: str, run_id: str) -> dict[str, str | None]:
    """State of every task instance of one DAG run."""
    rows = _query(db, "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?",
                  dag_id, run_id)
    return dict(rows)


def _wait(condition, timeout: float, scheduler: subprocess.Popen, log: Path, what: str):
    """Poll until condition() is truthy; fail with the scheduler log if it dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if scheduler.poll() is not None:
            pytest.fail(f"scheduler exited ({scheduler.returncode}) while waiting for {what}:\n"
                        + log.read_text()[-3000:])
        value = condition()
        if value:
            return value
        time.sleep(5)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}:\n" + log.read_text()[-3000:])


def _free_port() -> int:
    """A TCP port nobody listens on, for the scheduler's log server."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _environment(root: Path, dags: Path, config: PipelineConfig) -> dict[str, str]:
    """Airflow in root/airflow_home (database migrated), manual runs, no retries, this config."""
    home = root / "airflow_home"
    env = airflow_server.airflow_environment(home, dags, {
        **os.environ, **pipeline_env(config),
        "PIPELINE_AIRFLOW_SCHEDULE": "none", "PIPELINE_AIRFLOW_RETRIES": "0",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
        # Parse once: re-parsing (TensorFlow imports) during the run would only steal CPU.
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "3600",
    })
    home.mkdir()
    airflow_server.airflow_cli(env, "db", "migrate")
    return env


@pytest.fixture(scope="module")
def scheduler_run(tmp_path_factory: pytest.TempPathFactory) -> DagRunFacts:
    """Start a real scheduler on the project's DAG file, trigger it, wait for the end, stop it."""
    root = tmp_path_factory.mktemp("airflow_scheduler")
    config = e2e_config(root)
    dags = root / "dags"
    dags.mkdir()
    (dags / "pipelines.py").symlink_to(airflow_server.DAGS_FOLDER / "pipelines.py")
    env = _environment(root, dags, config)
    db = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    log = root / "scheduler.out"
    dag_id = config.pipeline_name
    started = time.monotonic()
    scheduler = airflow_server.start(env, ["scheduler"], log)
    try:
        def parsed() -> bool:
            sql = "SELECT dag_id FROM dag UNION SELECT filename FROM import_error"
            return bool(_query(db, sql))

        _wait(parsed, 600, scheduler, log, "the scheduler to parse the DAG file")
        assert _query(db, "SELECT filename, stacktrace FROM import_error") == []
        print(f"scheduler: DAG parsed {time.monotonic() - started:.0f} s after start")
        airflow_server.airflow_cli(env, "dags", "unpause", dag_id)
        assert _query(db, "SELECT is_paused FROM dag WHERE dag_id = ?", dag_id) == [(0,)]
        airflow_server.airflow_cli(env, "dags", "trigger", dag_id, "--run-id", RUN_ID)
        triggered = time.monotonic()

        def finished_state() -> str | None:
            rows = _query(db, "SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?",
                          dag_id, RUN_ID)
            return rows[0][0] if rows and rows[0][0] in FINISHED else None

        state = _wait(finished_state, RUN_TIMEOUT_SECONDS, scheduler, log, "the DAG run to finish")
        seconds = time.monotonic() - triggered
        print(f"scheduler: DAG run {state} {seconds:.0f} s after the trigger")
    finally:
        airflow_server.stop(scheduler)
    return DagRunFacts(config, RUN_ID, state, _task_states(db, dag_id, RUN_ID), seconds)


def test_scheduler_runs_pipeline_to_pushed_model(scheduler_run: DagRunFacts) -> None:
    """Every component ran in the Airflow run, recorded in the shared MLMD; a model was pushed."""
    from tfx.dsl.components.common.resolver import Resolver

    config = scheduler_run.config
    assert scheduler_run.state == "success"
    components = components_by_id(config)
    assert scheduler_run.task_states == {node_id: "success" for node_id in [*components, SYNC_TASK]}

    store = connection.open_metadata(config)
    run_id = records.latest_run_id(store, config.pipeline_name)
    assert run_id == f"{config.pipeline_name}.{RUN_ID}"
    runs = {run.node_id: run for run in records.component_runs(store, run_id)}
    # A fresh store: every executor ran. The resolver has none; TFX's legacy launcher, which
    # AirflowDagRunner uses, records its resolution as CACHED.
    assert {node_id: run.state for node_id, run in runs.items()} == {
        node_id: "CACHED" if isinstance(component, Resolver) else "COMPLETE"
        for node_id, component in components.items()
    }

    pushed = runs["ServingPusher"].outputs["pushed_model"][0]
    assert records.custom_property(pushed, "pushed") == 1
    version = records.custom_property(pushed, "pushed_version")
    version_dir = config.serving_dir / config.model_name / str(version)
    assert (version_dir / "saved_model.pb").is_file()


def write_bad_data(folder: Path) -> str:
    """The sample with text in a numeric column; returns that column's name."""
    column = features.DENSE_FLOAT_FEATURE_KEYS[0]
    folder.mkdir(parents=True)
    with (SAMPLE_DATA / "data.csv").open(newline="") as source:
        rows = list(csv.DictReader(source))
    with (folder / "data.csv").open("w", newline="") as target:
        writer = csv.DictWriter(target, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**row, column: "not a number"} for row in rows)
    return column


def write_sample_schema(path: Path) -> None:
    """A schema the sample data satisfies, standing in for a hand-curated one."""
    import tensorflow_data_validation as tfdv

    statistics = tfdv.generate_statistics_from_csv(str(SAMPLE_DATA / "data.csv"))
    path.parent.mkdir(parents=True)
    tfdv.write_schema_text(tfdv.infer_schema(statistics), str(path))


@pytest.mark.taxi
def test_data_gate_failure_fails_dag_run(tmp_path: Path) -> None:
    """Bad data: DataGate fails naming the column, the run fails, nothing downstream runs."""
    config = e2e_config(tmp_path)
    column = write_bad_data(tmp_path / "bad_data")
    write_sample_schema(tmp_path / "schema" / "schema.pbtxt")
    dags = tmp_path / "dags"
    dags.mkdir()
    bad_values = {
        "pipeline_name": BAD_PIPELINE,
        "data_dir": str(tmp_path / "bad_data"),
        "schema_path": str(tmp_path / "schema" / "schema.pbtxt"),
    }
    (dags / "bad_data_dag.py").write_text(BAD_DAG_FILE.format(values=bad_values))
    env = _environment(tmp_path, dags, config)

    with pytest.raises(subprocess.CalledProcessError) as failure:
        airflow_server.airflow_cli(env, "dags", "test", BAD_PIPELINE)
    output = failure.value.stdout + failure.value.stderr
    assert "DagRun failed" in output
    assert "DataValidationError" in output
    assert f"feature '{column}'" in output

    db = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    [(run_id, state)] = _query(db, "SELECT run_id, state FROM dag_run WHERE dag_id = ?",
                               BAD_PIPELINE)
    assert state == "failed"
    tasks = _task_states(db, BAD_PIPELINE, run_id)
    assert tasks["DataGate"] == "failed"
    assert tasks["ExampleValidator"] == "success"
    downstream = downstream_of(components_by_id(config), "DataGate")
    assert downstream >= {"Transform", "Trainer", "Evaluator", "ServingPusher"}
    ran_anyway = {n: tasks.get(n) for n in downstream if tasks.get(n) not in SKIPPED_STATES}
    assert ran_anyway == {}

    store = connection.open_metadata(config)
    ran = {run.node_id for run in records.component_runs(store, f"{BAD_PIPELINE}.{run_id}")}
    assert "DataGate" in ran
    assert not ran & downstream


@pytest.mark.taxi
def test_a_span_window_builds_an_airflow_dag_mirroring_the_graph(
    tmp_path: Path, monkeypatch
) -> None:
    """A multi-span window (channel unions into DataGate and Transform) compiles for Airflow."""
    from pipeline.config import parse_spans
    from tools import span_demo

    for span in (1, 2, 3):
        header, rows = span_demo.generate_rows(PROJECT_ROOT / "data" / "taxi" / "data.csv", 20,
                                           seed=span, days=7 * span)
        span_demo.write_span(tmp_path / "data", span, header, rows)
    config = small_config(tmp_path, data_dir=tmp_path / "data", spans=parse_spans("last-3"))
    env = airflow_server.airflow_environment(tmp_path / "airflow_home", tmp_path, os.environ)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from pipeline.run.airflow_runner import AirflowSettings, build_dag

    dag = build_dag(config, AirflowSettings())
    components = components_by_id(config)
    assert set(dag.task_ids) == set(components)
    for node_id, component in components.items():
        assert dag.get_task(node_id).upstream_task_ids == {n.id for n in component.upstream_nodes}
    assert dag.get_task("Transform").upstream_task_ids == {
        "CsvExampleGen_span1", "CsvExampleGen_span2", "CsvExampleGen", "DataGate"}
    assert dag.get_task("DataGate").upstream_task_ids == {
        "ExampleValidator_span1", "ExampleValidator_span2", "ExampleValidator",
        "ImportCuratedSchema"}
