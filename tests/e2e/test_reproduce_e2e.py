"""`reproduce` on one small run: the same verdict every time, a real change named as MISMATCH, and no
TensorFlow teardown noise on stderr."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.cli.run import format_compared
from pipeline.config import PROJECT_ROOT, PipelineConfig
from pipeline.metadata import connection
from pipeline.run import reproduce
from tests.support.configs import small_config

pytestmark = pytest.mark.e2e
STEPS = {"train_steps": 10, "eval_steps": 2, "min_auc": 0.0}
REPRODUCED = ("REPRODUCED exactly", "REPRODUCED within tolerance")
TIMES = 2  # two reproductions of one run: the verdict must not change between them


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[PipelineConfig, str]:
    """One tiny run on the sample (10 train steps)."""
    from pipeline.run.local_runner import run_pipeline

    config = small_config(tmp_path_factory.mktemp("recorded"), **STEPS)
    return config, run_pipeline(config).summary.run_id


def run_reproduce(config: PipelineConfig, run_id: str, scratch: Path) -> subprocess.CompletedProcess:
    """`python -m pipeline reproduce RUN_ID` as a user would run it."""
    command = [sys.executable, "-m", "pipeline", "reproduce", run_id,
               "--metadata", str(config.metadata_path), "--scratch", str(scratch)]
    return subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=1200)


def test_reproduce_gives_the_same_verdict_every_time_without_teardown_noise(recorded, tmp_path) -> None:
    config, run_id = recorded
    verdicts = []
    for attempt in range(TIMES):
        done = run_reproduce(config, run_id, tmp_path / f"scratch-{attempt}")
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        verdicts.append(done.stdout.strip().splitlines()[-1])
        # Every compared item names its largest difference and the bound it was held to.
        for name, bound in (("CsvExampleGen.examples", "bound exact"),
                            ("Transform.transformed_examples", "bound 1e-05 abs + 1e-05 rel"),
                            ("metric auc", "bound 0.0001 abs + 0.0001 rel")):
            line = next(line for line in done.stdout.splitlines() if f" {name}: " in line)
            assert "largest difference" in line and bound in line, line
        # A command that loaded TensorFlow models exits without AtomicFunction.__del__ tracebacks.
        assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr, \
            done.stderr[-3000:]
    assert verdicts[0] in REPRODUCED and verdicts == [verdicts[0]] * TIMES, verdicts


def test_a_different_seed_is_a_mismatch_naming_the_metrics(recorded, tmp_path) -> None:
    from pipeline.run.local_runner import run_pipeline

    config, run_id = recorded
    other = small_config(tmp_path, seed=7, **STEPS)
    other_run = run_pipeline(other).summary.run_id
    results = reproduce.compare_outputs(
        reproduce.run_outputs(connection.open_metadata(config), run_id),
        reproduce.run_outputs(connection.open_metadata(other), other_run),
        config.declaration.reproducibility,
    )
    by_name = {result.name: result for result in results}
    assert by_name["CsvExampleGen.examples"].exact
    assert by_name["Transform.transformed_examples"].ok
    message, code = reproduce.verdict([], results, ())
    assert code == 1 and message.startswith("MISMATCH: ") and "metric auc" in message, message
    assert "examples" not in message
    assert "DIFFERS  metric auc: largest difference" in format_compared(results)
