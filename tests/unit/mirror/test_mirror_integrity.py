"""A mirror that cannot lie: runs keyed by store identity and context, one writer at a time, a run
complete only once all its data is written, versions registered by folder and content, and a
tracking URI's password never shown. Real processes where the class is about processes: a sync
SIGKILLed half way, two syncs racing, `mlflow server`'s command line."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT, STATE_DIR
from pipeline.metadata import connection
from pipeline.mirror import runs
from pipeline.mirror.settings import MirrorSettings
from pipeline.mirror.sync import sync
from pipeline.services import mlflow_server
from tests.support.configs import small_config
from tests.support.mlflow_store import empty_store
from tests.support.mlmd_fake import evaluated_and_pushed_runs

pytestmark = pytest.mark.slow  # imports MLflow, starts processes

SECRET = "s3cr3t-Pw"

# A sync of tmp_path's store in a process of its own; "hang" stops it after the first run's values
# (before its files and its state tag), "slow" makes each run take a second (a race's window).
CHILD = """
import sys, time
from pathlib import Path
from pipeline.mirror import runs, sync
from tests.support.configs import small_config
from tests.support.mlflow_store import local_settings

root, mode = Path(sys.argv[1]), sys.argv[2]
original = runs._log_files

def paced(client, mlflow_run, run, png):
    if mode == "hang":
        (root / "half-way").write_text(mlflow_run)
        time.sleep(600)
    time.sleep(1.0)
    original(client, mlflow_run, run, png)

runs._log_files = paced
sync.sync(small_config(root), local_settings(root / "mlflow"), root / "none" / "models.config",
          slices=lambda uri: {})
"""


def child(root: Path, mode: str) -> subprocess.Popen:
    """Start a sync of root's store in another process."""
    return subprocess.Popen([sys.executable, "-c", CHILD, str(root), mode], cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def live_runs(settings: MirrorSettings) -> list:
    """Every live MLflow run of the taxi experiment."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=settings.tracking_uri)
    experiment = client.get_experiment_by_name("taxi")
    return list(client.search_runs([experiment.experiment_id], max_results=100))


def model_versions(settings: MirrorSettings) -> list[str]:
    """The serving version of every registered model version of taxi."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    return sorted(v.tags["serving_version"]
                  for v in client.search_model_versions("name = 'taxi'", max_results=100))


def assert_mirrored_once(settings: MirrorSettings, config) -> None:
    """One complete MLflow run per pipeline run, with its files, and one version per push."""
    from mlflow import MlflowClient

    mirrored = live_runs(settings)
    # A run is named by its answer, then its pipeline run id (mirror/run_view.headline).
    assert sorted(r.info.run_name.rsplit(" | ", 1)[-1] for r in mirrored) == ["run-1", "run-2"]
    identity = connection.store_identity(config)
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    for run in mirrored:
        assert run.data.tags[runs.STORE_TAG] == identity
        assert run.data.tags[runs.STATE_TAG] == "FINISHED"
        assert "run_summary.json" in [f.path for f in client.list_artifacts(run.info.run_id)]
    assert model_versions(settings) == ["1", "2"]


@pytest.fixture
def store(tmp_path: Path):
    """Two pushed runs in a fake ML Metadata store and an empty local MLflow store beside it."""
    config = small_config(tmp_path)
    evaluated_and_pushed_runs(config.metadata_path, tmp_path)
    return config, empty_store(tmp_path / "mlflow")


def test_a_sync_killed_half_way_leaves_nothing_partial_after_the_next(store, tmp_path: Path) -> None:
    config, settings = store
    process = child(tmp_path, "hang")
    deadline = time.monotonic() + 300
    while not (tmp_path / "half-way").exists():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0]
        time.sleep(0.2)
    process.kill()
    process.wait()
    (partial,) = live_runs(settings)
    assert runs.STATE_TAG not in partial.data.tags  # never looks complete
    report = sync(config, settings, tmp_path / "none" / "models.config", slices=lambda uri: {})
    assert report.added == ["run-1", "run-2"]
    assert_mirrored_once(settings, config)
    again = sync(config, settings, tmp_path / "none" / "models.config", slices=lambda uri: {})
    assert (again.added, again.versions_added, again.unchanged) == ([], [], 2)


def test_two_syncs_racing_mirror_each_run_once(store, tmp_path: Path) -> None:
    config, settings = store
    first, second = child(tmp_path, "slow"), child(tmp_path, "slow")
    outputs = [p.communicate(timeout=600)[0] for p in (first, second)]
    assert (first.returncode, second.returncode) == (0, 0), outputs
    assert_mirrored_once(settings, config)


def test_runs_of_two_stores_of_one_pipeline_never_replace_each_other(store, tmp_path: Path) -> None:
    config, settings = store
    other = config.replace(metadata_path=tmp_path / "other" / "metadata.sqlite",
                           serving_dir=tmp_path / "other" / "serving_model")
    evaluated_and_pushed_runs(other.metadata_path, tmp_path / "other")  # same context ids
    models_config = tmp_path / "none" / "models.config"
    assert sync(config, settings, models_config, slices=lambda uri: {}).added == ["run-1", "run-2"]
    assert sync(other, settings, models_config, slices=lambda uri: {}).added == ["run-1", "run-2"]
    assert sync(config, settings, models_config, slices=lambda uri: {}).added == []
    stores = sorted(r.data.tags[runs.STORE_TAG] for r in live_runs(settings))
    assert stores == sorted([connection.store_identity(config)] * 2
                            + [connection.store_identity(other)] * 2)
    assert model_versions(settings) == ["1", "1", "2", "2"]  # two folders: four versions


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("scheme", ["http", "postgresql"])
def test_a_password_in_the_tracking_uri_is_never_shown(store, tmp_path: Path, scheme: str) -> None:
    config, _ = store
    uri = f"{scheme}://mirror:{SECRET}@127.0.0.1:{closed_port()}/mlflow"
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "mlflow-sync", "--metadata", str(config.metadata_path),
         "--tracking-uri", uri], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert SECRET not in done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and "mirror:****@127.0.0.1" in line, line
    written = [p for p in STATE_DIR.rglob("*") if p.is_file()]
    assert not [p for p in written if SECRET.encode() in p.read_bytes()]


def _cmdlines(pid: int) -> list[str]:
    """The command lines of a process and its descendants, as any user of the machine reads them."""
    lines = []
    try:
        lines.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return lines
    for child_pid in children:
        lines += _cmdlines(int(child_pid))
    return lines


def test_mlflow_server_reads_the_store_uri_from_its_environment(tmp_path: Path) -> None:
    settings = MirrorSettings(f"postgresql://mirror:{SECRET}@127.0.0.1:{closed_port()}/mlflow",
                              None)
    process = mlflow_server.start(settings, closed_port(), quiet=True)
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and process.poll() is None:
            seen += _cmdlines(process.pid)
            time.sleep(0.1)
    finally:
        mlflow_server.stop(process)
    assert seen and not [line for line in seen if SECRET in line], seen
