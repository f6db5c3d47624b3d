"""`run`'s MLflow mirror off its critical path: a detached `mlflow-sync --after-run` the run does
not wait for, which a killed one's successor repairs, unless the config asks to wait. Real
processes: the sync lock is held by the test to keep the detached sync from finishing."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

from pipeline.cli import mirror as mirror_cli
from pipeline.config.record import config_record
from pipeline.mirror.runs import STATE_TAG
from pipeline.mirror.settings import MirrorSettings
from pipeline.mirror.sync import SYNC_LOG, one_writer
from tests.support.configs import parse_run_args, small_config
from tests.support.mlflow_store import empty_store
from tests.support.mlmd_fake import evaluated_and_pushed_runs

# Tests that import MLflow and start sync processes are marked slow.

# How long the test waits for a detached sync to finish (a generous bound, not a timing claim).
FINISH_WITHIN_S = 300.0


@pytest.fixture
def pushed(tmp_path: Path):
    """Two pushed runs in a fake ML Metadata store and an empty local MLflow store beside it."""
    config = small_config(tmp_path, tracking_uri="")
    evaluated_and_pushed_runs(config.metadata_path, tmp_path)
    return config, empty_store(tmp_path / "mlflow")


def mirrored(settings: MirrorSettings) -> list[str]:
    """The pipeline run ids MLflow shows complete (named `answer | run id`)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=settings.tracking_uri)
    experiment = client.get_experiment_by_name("taxi")
    if experiment is None:
        return []
    return sorted(r.info.run_name.rsplit(" | ", 1)[-1]
                  for r in client.search_runs([experiment.experiment_id])
                  if r.data.tags.get(STATE_TAG))


def started_pid(output: str) -> int:
    """The detached sync's process id, from the line the run prints."""
    match = re.search(r"syncing in the background \(process (\d+),", output)
    assert match, output
    return int(match.group(1))


def running(pid: int) -> bool:
    """Whether a process (reaped by init once detached, or a zombie child of ours) still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


def wait_until_done(pid: int) -> None:
    """Block until the detached sync has exited."""
    deadline = time.monotonic() + FINISH_WITHIN_S
    while running(pid):
        assert time.monotonic() < deadline, f"sync {pid} still running"
        time.sleep(0.2)


@pytest.mark.slow
def test_the_run_returns_while_its_sync_waits_then_the_sync_mirrors_it(pushed, capsys) -> None:
    config, settings = pushed
    with one_writer(settings):  # another writer holds the store: an in-process sync would block
        mirror_cli.sync_after_run(config)
        pid = started_pid(capsys.readouterr().out)
        assert running(pid) and mirrored(settings) == []
    wait_until_done(pid)
    assert mirrored(settings) == ["run-1", "run-2"]
    assert "2 run(s) added" in (config.log_dir / SYNC_LOG).read_text()


@pytest.mark.slow
def test_a_killed_sync_is_caught_up_by_the_next(pushed, capsys) -> None:
    config, settings = pushed
    with one_writer(settings):
        mirror_cli.sync_after_run(config)
        killed = started_pid(capsys.readouterr().out)
        os.kill(killed, signal.SIGKILL)
        while running(killed):
            time.sleep(0.1)
    assert mirrored(settings) == []
    mirror_cli.sync_after_run(config)
    wait_until_done(started_pid(capsys.readouterr().out))
    assert mirrored(settings) == ["run-1", "run-2"]


@pytest.mark.slow
def test_the_wait_setting_mirrors_before_returning(pushed, capsys) -> None:
    config, settings = pushed
    mirror_cli.sync_after_run(config.replace(mirror_wait=True))
    out = capsys.readouterr().out
    assert "in the background" not in out and "2 run(s) added" in out
    assert mirrored(settings) == ["run-1", "run-2"]


def test_the_wait_setting_comes_from_a_flag_or_the_environment_and_is_not_recorded(
    tmp_path: Path,
) -> None:
    assert parse_run_args(["--wait-for-mirror"], {}).mirror_wait
    assert parse_run_args([], {"PIPELINE_MIRROR_WAIT": "1"}).mirror_wait
    assert not parse_run_args([], {}).mirror_wait
    assert "mirror_wait" not in config_record(small_config(tmp_path, mirror_wait=True))


def test_a_sync_that_cannot_start_is_one_warning_not_a_failed_run(tmp_path: Path, capsys) -> None:
    blocked = tmp_path / "logs"
    blocked.write_text("a file where the log folder should be")
    mirror_cli.sync_after_run(small_config(tmp_path, tracking_uri="", log_dir=blocked))
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("warning: MLflow mirror not updated after the run")
