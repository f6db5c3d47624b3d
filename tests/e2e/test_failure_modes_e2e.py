"""Failures that need real runs, chained on one pipeline root and MLMD store to share runs:
a run killed in Trainer, two runs started at once (which resume it), a model trained on noise
labels, then values out of the schema's ranges. Each step checks MLMD and the serving dir."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT, PipelineConfig
from pipeline.metadata import connection, records
from pipeline.serving import layout
from pipeline.vocabulary import STORE_OWNER_FILE
from tests.support.configs import small_config
from tests.support.faults import cli_command, sample_lines, set_column, shuffled_labels, write_lines
from tools import taxi as features

pytestmark = [pytest.mark.e2e, pytest.mark.taxi]
TRAIN_STEPS = 20
MIN_AUC = 0.7
UPSTREAM_OF_TRAINER = (
    "CsvExampleGen", "StatisticsGen", "ImportCuratedSchema", "ExampleValidator", "DataGate",
    "Transform",
)
TRAINER_RUNNING = re.compile(r"Trainer\s+running")
RUN_TIMEOUT = 900


@dataclass
class CliProcess:
    """A `python -m pipeline run` child with its output files and timing."""

    process: subprocess.Popen
    stdout: Path
    stderr: Path
    started: float
    seconds: float | None = None

    def poll(self) -> int | None:
        """Exit code once finished, recording how long it ran."""
        code = self.process.poll()
        if code is not None and self.seconds is None:
            self.seconds = time.monotonic() - self.started
        return code


def start_cli(config: PipelineConfig, name: str) -> CliProcess:
    """Start a CLI run in its own process group, output to <root>/<name>.out/.err."""
    stdout = config.pipeline_root.parent / f"{name}.out"
    stderr = config.pipeline_root.parent / f"{name}.err"
    with stdout.open("w") as out, stderr.open("w") as err:
        process = subprocess.Popen(cli_command(config), cwd=PROJECT_ROOT, stdout=out, stderr=err,
                                   start_new_session=True)
    return CliProcess(process, stdout, stderr, time.monotonic())


def wait_all(runs: list[CliProcess], timeout: float = RUN_TIMEOUT) -> list[int]:
    """Exit codes of every run, polling so each one's duration is recorded."""
    deadline = time.monotonic() + timeout
    while None in [run.poll() for run in runs]:
        assert time.monotonic() < deadline, "a run did not finish in time"
        time.sleep(0.5)
    return [run.process.returncode for run in runs]


def store_of(config: PipelineConfig):
    return connection.open_metadata(config)


def states_of(config: PipelineConfig, run_id: str) -> dict[str, str]:
    """Component id -> MLMD execution state for one run."""
    return {c.node_id: c.state for c in records.component_runs(store_of(config), run_id)}


def serving_entries(config: PipelineConfig) -> list[str]:
    """Everything in the model's serving folder, hidden entries included (but the owner file
    every run writes first: run/store_owner.py)."""
    base = layout.model_base_path(config.serving_dir, config.model_name)
    return sorted(p.name for p in base.iterdir() if p.name != STORE_OWNER_FILE) \
        if base.is_dir() else []


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> PipelineConfig:
    return small_config(tmp_path_factory.mktemp("failures"), train_steps=TRAIN_STEPS,
                        min_auc=MIN_AUC)


@pytest.fixture(scope="module")
def killed(config: PipelineConfig) -> CliProcess:
    """A fresh run SIGKILLed two seconds after the console shows Trainer running."""
    run = start_cli(config, "killed")
    deadline = time.monotonic() + RUN_TIMEOUT
    while not TRAINER_RUNNING.search(run.stdout.read_text()):
        assert run.poll() is None, f"run ended before Trainer: {run.stderr.read_text()}"
        assert time.monotonic() < deadline
        time.sleep(0.5)
    time.sleep(2)
    os.killpg(run.process.pid, signal.SIGKILL)
    wait_all([run])
    return run


@pytest.fixture(scope="module")
def concurrent(killed: CliProcess, config: PipelineConfig) -> list[CliProcess]:
    """Two runs started at once on the killed run's pipeline root and store."""
    runs = [start_cli(config, "first"), start_cli(config, "second")]
    wait_all(runs)
    return runs


def test_killed_run_leaves_trainer_unfinished_and_nothing_served(killed, config) -> None:
    assert killed.process.returncode == -signal.SIGKILL
    run_id = records.latest_run_id(store_of(config), config.pipeline_name)
    states = states_of(config, run_id)
    assert {states[node] for node in UPSTREAM_OF_TRAINER} == {"COMPLETE"}
    assert states["Trainer"] == "RUNNING"
    assert "Evaluator" not in states and "ServingPusher" not in states
    assert serving_entries(config) == []


def test_second_of_two_concurrent_runs_refuses_at_once(concurrent) -> None:
    codes = sorted(run.process.returncode for run in concurrent)
    assert codes == [0, 3]
    winner, loser = sorted(concurrent, key=lambda run: run.process.returncode)
    refusal = loser.stderr.read_text()
    assert f"another run (pid {winner.process.pid}) is using this pipeline" in refusal
    assert loser.seconds < 30
    print(f"refused in {loser.seconds:.1f} s; the winner ran {winner.seconds:.1f} s")


def test_run_after_the_kill_reuses_upstream_and_pushes_one_complete_version(
    concurrent, config
) -> None:
    run_id = records.latest_run_id(store_of(config), config.pipeline_name)
    states = states_of(config, run_id)
    assert {states[node] for node in UPSTREAM_OF_TRAINER} == {"CACHED"}
    assert states["Trainer"] == states["Evaluator"] == states["ServingPusher"] == "COMPLETE"
    assert serving_entries(config) == ["1"]
    base = layout.model_base_path(config.serving_dir, config.model_name)
    assert layout.list_versions(base) == [1]
    winner = next(run for run in concurrent if run.process.returncode == 0)
    assert "model      BLESSED" in winner.stdout.read_text()


def test_metadata_reads_back_after_the_kill_and_the_concurrent_start(concurrent, config) -> None:
    with sqlite3.connect(config.metadata_path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    store = store_of(config)
    runs = records.run_contexts(store, config.pipeline_name)
    assert len(runs) == 2
    trainers = [
        c for run in runs for c in records.component_runs(store, run.name) if c.node_id == "Trainer"
    ]
    assert [t.state for t in trainers] == ["RUNNING", "COMPLETE"]
    assert trainers[0].execution.id != trainers[1].execution.id


@pytest.fixture(scope="module")
def noise_run(concurrent, config: PipelineConfig):
    """A run on the same root and store whose labels are shuffled across rows."""
    from pipeline.run.local_runner import run_pipeline

    version = layout.model_base_path(config.serving_dir, config.model_name) / "1"
    fingerprint = layout.model_fingerprint(version)
    data = write_lines(config.pipeline_root.parent / "noise_data", shuffled_labels(sample_lines()))
    return run_pipeline(config.replace(data_dir=data)), fingerprint


def test_model_trained_on_noise_is_not_blessed_nor_pushed(noise_run, config) -> None:
    result, fingerprint = noise_run
    summary = result.summary
    print(f"noise model: AUC {summary.metrics['auc']:.4f}; {summary.blessing_reason}")
    assert summary.blessed is False
    assert re.search(rf"auc 0\.\d{{4}} failed lower bound {MIN_AUC}", summary.blessing_reason)
    assert summary.metrics["auc"] < MIN_AUC
    assert summary.pushed_version is None and summary.push_decision == "not blessed"
    assert serving_entries(config) == ["1"]
    version = layout.model_base_path(config.serving_dir, config.model_name) / "1"
    assert layout.model_fingerprint(version) == fingerprint


def out_of_range_lines() -> list[str]:
    """Negative fares and latitudes of 999: well-formed CSV only the schema can refuse."""
    lines = set_column(sample_lines(), features.FARE_KEY, "-5.0", every=10)
    return set_column(lines, features.BUCKET_FEATURE_KEYS[0], "999", every=10)


def test_out_of_range_values_stop_the_run_at_the_data_gate(noise_run, config) -> None:
    """A fare below the schema's minimum is broken data (schema skew): the run stops; a latitude
    past the schema's maximum is growth (value skew), named apart and never the cause of a stop."""
    from pipeline.run.local_runner import PipelineRunError, run_pipeline

    data = write_lines(config.pipeline_root.parent / "anomalous_data", out_of_range_lines())
    with pytest.raises(PipelineRunError) as error:
        run_pipeline(config.replace(data_dir=data))
    message = str(error.value)
    print(message)
    assert message.startswith("DataGate failed:")
    assert f"feature '{features.FARE_KEY}': Unexpectedly low values: -5<0" in message
    assert f"feature '{features.BUCKET_FEATURE_KEYS[0]}'" not in message
    states = states_of(config, records.latest_run_id(store_of(config), config.pipeline_name))
    assert states["DataGate"] == "FAILED" and "Transform" not in states
    assert serving_entries(config) == ["1"]
