"""The MLflow mirror of the shared run: a real `mlflow server` on the synced store, read over REST
and in a browser; a second sync writes nothing; a corrupt store fails with one `error:` line and
leaves ML Metadata byte-identical."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT, PipelineConfig
from pipeline.mirror import run_view
from pipeline.mirror.runs import runs_page
from pipeline.mirror.settings import MirrorSettings
from pipeline.mirror.sync import SyncReport, sync
from pipeline.services import mlflow_server
from pipeline.services.postgres_server import free_port
from tests.support.mlflow_store import empty_store

# The UI asks who the user is; a server without authentication answers 404, which the UI handles.
NO_AUTH = "/ajax-api/2.0/mlflow/users/current"


@dataclass(frozen=True)
class Mirror:
    """The shared run synced into a fresh store, and a server on it."""

    config: PipelineConfig
    settings: MirrorSettings
    first: SyncReport
    second: SyncReport
    rows_after_first: str
    rows_after_second: str
    metadata_before: bytes
    url: str
    slice_rows: list[dict[str, str]]



def store_rows(database: Path) -> str:
    """A hash of every row of every table: equal hashes mean the store did not change."""
    digest = hashlib.sha256()
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        for table in tables:
            for row in sorted(map(repr, db.execute(f'SELECT * FROM "{table}"'))):
                digest.update(f"{table}:{row}\n".encode())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def mirror(shared_run, shared_config: PipelineConfig, tmp_path_factory) -> Iterator[Mirror]:
    """Sync twice into a fresh local store, then serve it with `mlflow server`."""
    folder = tmp_path_factory.mktemp("mlflow")
    settings = empty_store(folder)
    before = shared_config.metadata_path.read_bytes()
    models_config = folder / "no-serving-config" / "models.config"
    first = sync(shared_config, settings, models_config)
    rows_first = store_rows(folder / "mlflow.db")
    second = sync(shared_config, settings, models_config)
    rows_second = store_rows(folder / "mlflow.db")
    port = free_port()
    process = mlflow_server.start(settings, port, quiet=True)
    try:
        mlflow_server.wait_until_up(process, port)
        url = f"http://127.0.0.1:{port}"
        run_id = the_run_at(url, shared_config.pipeline_name)["info"]["run_id"]
        found = list(folder.rglob(run_view.SLICE_TABLE_FILE))
        assert len(found) == 1, run_id
        rows = list(csv.DictReader(io.StringIO(found[0].read_text())))
        yield Mirror(shared_config, settings, first, second, rows_first, rows_second, before, url,
                     rows)
    finally:
        mlflow_server.stop(process)


def rest(mirror: Mirror | str, path: str, body: dict | None = None, **query: str) -> dict:
    """One call of MLflow's REST API (GET with query, or POST with a JSON body)."""
    url = f"{mirror if isinstance(mirror, str) else mirror.url}/api/2.0/mlflow/{path}"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def the_run_at(url: str, pipeline_name: str) -> dict:
    """The MLflow run of the shared pipeline run, found through the REST API of a server."""
    experiment = rest(url, "experiments/get-by-name", experiment_name=pipeline_name)
    found = rest(url, "runs/search", {"experiment_ids": [experiment["experiment"]["experiment_id"]]})
    assert len(found["runs"]) == 1
    return found["runs"][0]


def the_run(mirror: Mirror) -> dict:
    """The MLflow run of the shared pipeline run."""
    return the_run_at(mirror.url, mirror.config.pipeline_name)


def test_the_server_shows_the_run_with_its_metrics_params_and_tags(mirror: Mirror, shared_run) -> None:
    run = the_run(mirror)
    run_id = shared_run.summary.run_id
    assert run["info"]["status"] == "FINISHED"
    assert run["info"]["run_name"] == f"auc {shared_run.summary.metrics['auc']:.4f} blessed v1 | {run_id}"
    metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
    assert metrics["auc"] == pytest.approx(shared_run.summary.metrics["auc"])
    sliced = [k for k in metrics if k.startswith("slice/")]
    assert any(k.startswith("slice/trip_start_hour/") for k in sliced)
    # The primary metric per slice only, and none where it is undefined (a slice of one class).
    assert all(k.endswith("/auc") for k in sliced)
    assert len(sliced) < len(mirror.slice_rows)
    one_class = [r["slice"] for r in mirror.slice_rows if r["note"].find("auc: one class") >= 0]
    assert one_class and not {f"slice/{s}/auc" for s in one_class} & set(sliced)
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    assert params["train_steps"] == str(mirror.config.train_steps)
    assert params["task"] == mirror.config.declaration.task.value
    for name in ("data_fingerprint", "data_span", "git_commit", "uv_lock_sha256", "hparam.seed"):
        assert params.get(name), name
    assert params["threshold.auc"] == f">= {mirror.config.blessing_thresholds[0].lower}"
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags["mlflow.source.git.commit"] == params["git_commit"]
    assert tags["mlflow.source.name"] and tags["mlflow.user"]
    assert tags["blessed"] == "true" and tags["pushed_version"] == "1"
    assert tags["blessing_reason"] == shared_run.summary.blessing_reason
    ids = {str(c.execution.id) for c in shared_run.summary.components}
    assert set(tags["mlmd.execution_ids"].split(",")) == ids


def test_training_loss_is_a_metric_history_per_step(mirror: Mirror) -> None:
    run = the_run(mirror)
    history = rest(mirror, "metrics/get-history", run_id=run["info"]["run_id"], metric_key="train_loss")
    steps = sorted(m["step"] for m in history["metrics"])
    assert steps[0] == 1 and steps[-1] == mirror.config.train_steps


def test_the_run_carries_schema_lineage_and_summary_artifacts(mirror: Mirror) -> None:
    run = the_run(mirror)
    listed = rest(mirror, "artifacts/list", run_id=run["info"]["run_id"])
    paths = {f["path"] for f in listed["files"]}
    assert {"schema", "anomalies", "lineage.png", "run_summary.json", run_view.SLICE_TABLE_FILE} <= paths
    artifacts = Path(urllib.parse.urlparse(run["info"]["artifact_uri"]).path)
    assert (artifacts / "lineage.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (artifacts / "schema" / "schema.pbtxt").is_file()


def test_the_registry_has_the_pushed_version_with_alias_stable(mirror: Mirror) -> None:
    name = mirror.config.model_name
    stable = rest(mirror, "registered-models/alias", name=name, alias="stable")["model_version"]
    tags = {t["key"]: t["value"] for t in stable["tags"]}
    assert tags["serving_version"] == "1"
    auc = {m["key"]: m["value"] for m in the_run(mirror)["data"]["metrics"]}["auc"]
    assert tags["auc"] == f"{auc:.4f}" and f"auc {auc:.4f}" in stable["description"]
    source = Path(urllib.parse.urlparse(stable["source"]).path)
    assert source == (mirror.config.serving_dir / name / "1").resolve()
    assert (source / "saved_model.pb").is_file()
    assert stable["run_id"] == the_run(mirror)["info"]["run_id"]


def test_a_second_sync_adds_and_changes_nothing(mirror: Mirror) -> None:
    assert len(mirror.first.added) == 1 and mirror.first.versions_added == ["1"]
    assert mirror.second.added == [] and mirror.second.versions_added == []
    assert mirror.second.unchanged == 1
    assert mirror.rows_after_second == mirror.rows_after_first


def test_syncing_leaves_ml_metadata_byte_identical(mirror: Mirror) -> None:
    assert mirror.config.metadata_path.read_bytes() == mirror.metadata_before


def test_a_corrupt_store_fails_with_one_error_line(mirror: Mirror, tmp_path: Path) -> None:
    corrupt = tmp_path / "mlflow.db"
    corrupt.write_bytes(b"this is not a database" * 100)
    config = mirror.config
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "mlflow-sync", "--metadata", str(config.metadata_path),
         "--tracking-uri", f"sqlite:///{corrupt}"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: MLflow store") and str(corrupt) in lines[0]
    assert "Traceback" not in done.stderr
    assert config.metadata_path.read_bytes() == mirror.metadata_before


def test_the_ui_shows_the_run_and_the_model_version(mirror: Mirror, tmp_path: Path) -> None:
    from tests.support.browser import chromium_page, page_problems

    run = the_run(mirror)
    experiment = run["info"]["experiment_id"]
    with chromium_page() as page:
        # The URL `ui` prints: the runs in the model-training view, the answer in the run's name.
        page.goto(f"{mirror.url}/{runs_page(experiment)}")
        page.get_by_text("Model training").first.wait_for()
        page.get_by_role("heading", name="Runs").first.wait_for()
        assert "/runs" in page.url
        headline = run["info"]["run_name"].split(" | ")[0]
        assert headline.startswith("auc ") and "blessed" in headline
        page.get_by_text(headline).first.wait_for()
        page.screenshot(path=str(tmp_path / "mlflow_runs.png"))
        page.goto(f"{mirror.url}/#/experiments/{experiment}/runs/{run['info']['run_id']}")
        page.get_by_text("auc", exact=True).first.wait_for()
        page.screenshot(path=str(tmp_path / "mlflow_run.png"))
        page.goto(f"{mirror.url}/#/models/{mirror.config.model_name}")
        page.get_by_text("@ stable").first.wait_for()
        page.get_by_text("auc", exact=True).first.wait_for()
        page.screenshot(path=str(tmp_path / "mlflow_registry.png"))
        problems = page_problems(page)
    # Every 404 the console reports (its line names no URL) is a request to NO_AUTH.
    not_found = [p for p in problems if p.startswith("HTTP 404")]
    assert all(NO_AUTH in p for p in not_found), problems
    assert [p for p in problems if "404" not in p] == [], problems
    for name in ("mlflow_runs", "mlflow_run", "mlflow_registry"):
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
