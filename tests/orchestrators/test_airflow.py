"""The pipeline on Airflow: the DAG mirrors the pipeline graph, and Airflow as in production runs it.

`python -m pipeline airflow` (its own PostgreSQL cluster, LocalExecutor, generated admin password)
runs the project's DAG on the sample data to a pushed model recorded in ML Metadata on that server,
triggered and followed through the REST API with the generated login. Every task there is a new
process importing TensorFlow (about a minute on 2 busy cores), so the bad-data run, which must fail
at DataGate without running anything downstream and send its alert to a webhook, runs its tasks in
one process with `airflow dags test` instead.
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import os
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT, MetadataBackend, PipelineConfig, config_from_values, env_values
from pipeline.metadata import connection, records
from pipeline.run import consistency, store_owner
from pipeline.run.airflow_runner import AirflowSettings
from pipeline.services import airflow_server
from pipeline.services.postgres_server import free_port
from tests.support.airflow_db import query, task_states
from tests.support.browser import chromium_page, page_problems
from tests.support.configs import SAMPLE_DATA, small_config
from tests.support.postgres import AirflowCommand, airflow_command, postgres_reachable_folder
from tests.support.webhook import webhook_receiver
from tools import taxi as features

pytestmark = pytest.mark.airflow

CURATED_SCHEMA = PipelineConfig().schema_path
BAD_PIPELINE = "taxi_bad_data"
RUN_ID = "e2e_sample"
RUN_TIMEOUT_SECONDS = 45 * 60
FINISHED = {"success", "failed"}
SYNC_TASK = "mlflow_sync"  # pipeline.mirror.airflow_task.TASK_ID
STORE_CHECK = "store_check"  # pipeline.run.airflow_store_check.TASK_ID
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
    from pipeline.run import manifest

    return {c.id: c for c in create_pipeline(config, manifest.compute(config)).components}


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
    # PIPELINE_PROJECT is set: one pipeline DAG, that project's, its monitoring and feedback DAGs.
    assert sorted(bag.dag_ids) == sorted([config.pipeline_name, f"{config.project}_monitoring",
                                          f"{config.project}_feedback"])
    dag = bag.dags[config.pipeline_name]
    components = components_by_id(config)
    # + the store check first and the MLflow mirror's teardown last
    assert set(dag.task_ids) == set(components) | {SYNC_TASK, STORE_CHECK}
    check = dag.get_task(STORE_CHECK)
    assert not check.upstream_task_ids and check.retries == 0
    assert check.downstream_task_ids == {n for n, c in components.items() if not c.upstream_nodes}
    for node_id, component in components.items():
        task = dag.get_task(node_id)
        assert task.upstream_task_ids - {STORE_CHECK} == {
            n.id for n in component.upstream_nodes}, node_id
        assert task.downstream_task_ids - {SYNC_TASK} == {
            n.id for n in component.downstream_nodes}, node_id
        assert task.retries == (0 if node_id == "DataGate" else 3), node_id
        assert task.retry_exponential_backoff is True, node_id
        assert task.owner == AirflowSettings().owner, node_id
        assert task.on_failure_callback is not None, node_id
    assert dag.description and "null" not in dag.description
    assert f"python -m pipeline lineage --project {config.project}" in dag.doc_md
    assert str(config.metadata_path) in dag.doc_md
    assert dag.schedule_interval == AirflowSettings().schedule == "@daily"
    assert dag.catchup is False
    assert dag.start_date == DEFAULT_START_DATE


@dataclass(frozen=True)
class DagRunOutcome:
    """How a DAG run ended, read from Airflow's REST API."""

    config: PipelineConfig
    run_id: str
    state: str
    task_states: dict[str, str | None]
    seconds: float


def _poll(condition, timeout: float, command: AirflowCommand, what: str):
    """Poll until condition() is truthy; fail with the scheduler log if time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert command.process.poll() is None, command.console.read_text()[-3000:]
        value = condition()
        if value:
            return value
        time.sleep(5)
    log = (command.home / "logs" / "scheduler.out").read_text()[-3000:]
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}:\n{log}")


def _environment(root: Path, dags: Path, config: PipelineConfig) -> dict[str, str]:
    """`airflow dags test` in root/airflow_home (SQLite, migrated), manual runs, no retries."""
    home = root / "airflow_home"
    env = airflow_server.airflow_environment(home, dags, {
        **os.environ, **pipeline_env(config),
        "PIPELINE_AIRFLOW_SCHEDULE": "none", "PIPELINE_AIRFLOW_RETRIES": "0",
    })
    home.mkdir()
    airflow_server.airflow_cli(env, "db", "migrate")
    return env


@pytest.fixture(scope="module")
def production_airflow() -> Iterator[tuple[AirflowCommand, PipelineConfig]]:
    """`python -m pipeline airflow` on the sample, as a user starts it: its own database."""
    with postgres_reachable_folder("airflow-prod-") as root:
        config = e2e_config(root)
        # The store's server settings are left to the command (its own cluster); the SQLite
        # path stays set, so a task that wrote there would leave a file the test finds.
        environ = {key: value for key, value in pipeline_env(config).items()
                   if not key.startswith("PIPELINE_METADATA_") or key.endswith("_PATH")}
        environ.update({
            "PIPELINE_AIRFLOW_SCHEDULE": "none", "PIPELINE_AIRFLOW_RETRIES": "0",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            # Parse once: re-parsing (TensorFlow imports) during the run would only steal CPU.
            "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "3600",
        })
        with airflow_command(root / "home", free_port(), environ) as command:
            print(f"python -m pipeline airflow: UI healthy {command.startup_seconds:.0f} s "
                  "after start")
            yield command, command.metadata_config(config)


def wait_for_dag(command: AirflowCommand, dag_id: str) -> None:
    """Wait until the scheduler has parsed the DAG file; it must have no import error."""

    def parsed() -> bool:
        return bool(command.api("GET", "dags?only_active=true")["total_entries"])

    _poll(parsed, 600, command, "the scheduler to parse the DAG file")
    assert command.api("GET", "importErrors")["total_entries"] == 0
    assert command.api("GET", f"dags/{dag_id}")["dag_id"] == dag_id


# Airflow 2.11's own DAG-list script fails on every load (its search box's jQuery autocomplete
# plugin is not on the page); nothing of ours, and the page works regardless.
AIRFLOW_SCRIPT_ERROR = "Cannot set properties of undefined (setting 'autocomplete')"


def ui_messages(url: str, password: str, dag_id: str) -> tuple[list[str], list[str], str]:
    """Log into the UI in Chromium as admin: the banners and flash messages of the DAG list,
    the page's console errors and failed requests, and the text of the DAG's row."""
    with chromium_page() as page:
        page.goto(f"{url}/login/")
        page.fill("input#username", airflow_server.ADMIN_USER)
        page.fill("input#password", password)
        page.click("input[type=submit]")
        row = page.locator("tr", has=page.locator(f'a[href*="/dags/{dag_id}/grid"]')).first
        row.wait_for()
        page.wait_for_load_state("networkidle")
        banners = [text.strip() for text in page.locator(".alert:visible").all_inner_texts()]
        problems = [problem for problem in page_problems(page)
                    if not problem.endswith(AIRFLOW_SCRIPT_ERROR)]
        return banners, problems, row.inner_text()


def dag_page_docs(url: str, password: str, dag_id: str, screenshot: Path) -> tuple[list[str], str]:
    """The DAG's own page as a person opens it: its banners, and the text of its "DAG Docs"
    panel once expanded (the doc_md the DAG factory writes)."""
    with chromium_page() as page:
        page.goto(f"{url}/login/")
        page.fill("input#username", airflow_server.ADMIN_USER)
        page.fill("input#password", password)
        page.click("input[type=submit]")
        page.goto(f"{url}/dags/{dag_id}/grid")
        docs = page.get_by_text("DAG Docs").first
        docs.wait_for()
        docs.click()
        page.get_by_text("lists the runs").first.wait_for()
        page.screenshot(path=str(screenshot))
        banners = [text.strip() for text in page.locator(".alert:visible").all_inner_texts()]
        return banners, page.inner_text("body")


@pytest.mark.service
def test_browser_logs_in_and_sees_the_dag_without_production_warnings(
    production_airflow, tmp_path: Path
) -> None:
    """Chromium logs in with the generated password: the DAG is listed with its description and
    owner, and the page has no banner (SQLite, executor, scheduler, ...) and no error."""
    command, config = production_airflow
    wait_for_dag(command, config.pipeline_name)
    password = command.password_file.read_text().strip()
    banners, problems, row = ui_messages(command.url, password, config.pipeline_name)
    assert banners == []
    assert problems == []
    assert config.pipeline_name in row and AirflowSettings().owner in row
    dag_banners, docs = dag_page_docs(command.url, password, config.pipeline_name,
                                      tmp_path / "airflow_dag_docs.png")
    assert dag_banners == []
    # The docs name the commands that read this DAG's own store, not the local runner's.
    assert f"python -m pipeline runs --project {config.project} --metadata" in docs
    with chromium_page() as page:  # and the wrong password is refused
        page.goto(f"{command.url}/login/")
        page.fill("input#username", airflow_server.ADMIN_USER)
        page.fill("input#password", "admin")
        page.click("input[type=submit]")
        page.wait_for_load_state("networkidle")
        wrong = page.locator(".alert:visible").all_inner_texts()
    assert any("Invalid login" in text for text in wrong), wrong


@pytest.fixture(scope="module")
def scheduler_run(production_airflow) -> DagRunOutcome:
    """Unpause and trigger the DAG through the REST API, wait for the end of the run."""
    command, config = production_airflow
    dag_id = config.pipeline_name
    wait_for_dag(command, dag_id)
    assert command.api("PATCH", f"dags/{dag_id}", {"is_paused": False})["is_paused"] is False
    command.api("POST", f"dags/{dag_id}/dagRuns", {"dag_run_id": RUN_ID})
    triggered = time.monotonic()

    def finished_state() -> str | None:
        state = command.api("GET", f"dags/{dag_id}/dagRuns/{RUN_ID}")["state"]
        return state if state in FINISHED else None

    state = _poll(finished_state, RUN_TIMEOUT_SECONDS, command, "the DAG run to finish")
    seconds = time.monotonic() - triggered
    print(f"LocalExecutor on PostgreSQL: DAG run {state} {seconds:.0f} s after the trigger")
    tasks = command.api("GET", f"dags/{dag_id}/dagRuns/{RUN_ID}/taskInstances")
    states = {t["task_id"]: t["state"] for t in tasks["task_instances"]}
    return DagRunOutcome(config, RUN_ID, state, states, seconds)


def test_command_keeps_secrets_off_command_lines_and_files(production_airflow) -> None:
    """The admin password is in a 0600 file the console names, in no process's command line;
    the database password in no file of AIRFLOW_HOME but its own 0600 file; UI on 127.0.0.1."""
    command, config = production_airflow
    admin = command.password_file.read_text().strip()
    database = command.postgres.password
    assert len(admin) >= 16 and admin != "admin"
    assert stat.S_IMODE(command.password_file.stat().st_mode) == 0o600
    cluster = command.home / "state" / "postgres"
    assert stat.S_IMODE((cluster / "superuser_password.txt").stat().st_mode) == 0o600
    console = command.console.read_text()
    assert f"password in {command.password_file}" in console
    assert admin not in console and database not in console
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            arguments = cmdline.read_bytes().decode(errors="replace")
        except OSError:
            continue
        assert admin not in arguments and database not in arguments, cmdline
    leaked = [path for path in command.home.rglob("*")
              if path.is_file() and cluster / "data" not in path.parents
              and path.name != "superuser_password.txt"
              and database.encode() in path.read_bytes()]
    assert leaked == []
    listening = command.postgres.query(
        "airflow", "SELECT hostname FROM job WHERE job_type = 'SchedulerJob'")
    assert listening, "the scheduler registered in Airflow's PostgreSQL database"
    with pytest.raises(OSError):  # the UI listens on 127.0.0.1 only
        socket.create_connection((_outside_address(), int(command.url.rsplit(":", 1)[1])), 2)


def _outside_address() -> str:
    """This machine's address on its network (not loopback), or skip when it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET: no packet is sent
        except OSError:
            pytest.skip("no network interface besides loopback")
        address = probe.getsockname()[0]
    if address.startswith("127."):
        pytest.skip("no network interface besides loopback")
    return address


def test_scheduler_runs_pipeline_to_pushed_model(scheduler_run: DagRunOutcome) -> None:
    """Every component ran in the Airflow run, recorded in MLMD on PostgreSQL; a model was pushed."""
    from tfx.dsl.components.common.resolver import Resolver

    config = scheduler_run.config
    assert scheduler_run.state == "success"
    components = components_by_id(config)
    assert scheduler_run.task_states == {
        node_id: "success" for node_id in [*components, SYNC_TASK, STORE_CHECK]}

    assert config.metadata_backend.value == "postgresql"
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
    assert not config.metadata_path.parent.exists(), "no SQLite store beside the server"


def test_a_local_run_on_the_dag_s_folders_is_refused_naming_both_stores(
    scheduler_run: DagRunOutcome, tmp_path: Path
) -> None:
    """The DAG's store_check claimed its pipeline root and serving folder for the PostgreSQL
    store: a local run with its own SQLite store is refused there, both stores named, no secret."""
    config = scheduler_run.config
    local = config.replace(metadata_backend=MetadataBackend.SQLITE,
                           metadata_path=tmp_path / "local.sqlite")
    with pytest.raises(store_owner.ForeignStore) as refused:
        consistency.check(local)
    message = str(refused.value)
    assert message.startswith(f"{config.pipeline_root} belongs to ML Metadata store ")
    assert config.metadata_location in message and str(local.metadata_path) in message
    assert config.metadata_password.reveal() not in message
    assert not local.metadata_path.exists()


def test_tasks_fork_from_a_scheduler_that_preloaded_tensorflow(
    production_airflow, scheduler_run: DagRunOutcome
) -> None:
    """The command's scheduler imported TensorFlow and TFX before its executor started, and the
    run's tasks were forked from its workers (pipeline.services.airflow_scheduler)."""
    from pipeline.services.airflow_scheduler import PRELOADED

    command, config = production_airflow
    log = (command.home / "logs" / "scheduler.out").read_text(errors="replace")
    assert f"preloaded {', '.join(PRELOADED)} in " in log
    forked = f"QueuedLocalWorker running ['airflow', 'tasks', 'run', '{config.pipeline_name}', "
    assert log.count(forked) == len(scheduler_run.task_states)


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

    with webhook_receiver() as receiver:
        env["AIRFLOW_CONN_PIPELINE_ALERTS"] = receiver.url
        with pytest.raises(subprocess.CalledProcessError) as failure:
            airflow_server.airflow_cli(env, "dags", "test", BAD_PIPELINE)
    output = failure.value.stdout + failure.value.stderr
    assert "DagRun failed" in output
    assert "DataValidationError" in output
    assert f"feature '{column}'" in output

    db = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    [(run_id, state)] = query(db, "SELECT run_id, state FROM dag_run WHERE dag_id = ?",
                               BAD_PIPELINE)
    assert state == "failed"
    tasks = task_states(db, BAD_PIPELINE, run_id)
    assert tasks["DataGate"] == "failed"
    # One alert, for the failed task, through the connection: a real POST to the receiver.
    [(path, alert)] = receiver.received
    assert path == "/alerts"
    assert (alert["dag_id"], alert["task_id"], alert["run_id"]) == (BAD_PIPELINE, "DataGate", run_id)
    assert f"/dags/{BAD_PIPELINE}/grid?" in alert["log_url"]
    assert "task_id=DataGate" in alert["log_url"] and "tab=logs" in alert["log_url"]
    assert "DataValidationError" in alert["error"]
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
    config = small_config(tmp_path, data_dir=tmp_path / "data", spans=parse_spans("last-3"),
                          analyzer_cache=True)
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
        "CsvExampleGen_span1", "CsvExampleGen_span2", "CsvExampleGen", "DataGate",
        "latest_analyzer_cache_resolver"}
    assert dag.get_task("DataGate").upstream_task_ids == {
        "ExampleValidator_span1", "ExampleValidator_span2", "ExampleValidator",
        "StatisticsGen_span1", "StatisticsGen_span2", "StatisticsGen", "ImportCuratedSchema"}


def test_run_wrote_no_store_password(production_airflow, scheduler_run: DagRunOutcome) -> None:
    """After the run: the ML Metadata password is in no task log and no rendered task field."""
    command, config = production_airflow
    password = config.metadata_password.reveal()
    task_logs = [path for path in (command.home / "logs").rglob("*") if path.is_file()]
    assert any(f"dag_id={config.pipeline_name}" in str(path) for path in task_logs)
    assert [path for path in task_logs if password.encode() in path.read_bytes()] == []
    rendered = command.postgres.query(
        "airflow", "SELECT count(*) FROM rendered_task_instance_fields "
        "WHERE rendered_fields::text LIKE %s", f"%{password}%")
    assert rendered == [(0,)]
