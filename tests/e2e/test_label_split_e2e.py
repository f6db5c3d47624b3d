"""A label whose positive class has no row in the eval split: `init` accepts the file (the class
is frequent enough), and the run stops at the DataGate with one `error:` line naming the split, the
label column and the class, exit 1, nothing transformed, trained or pushed.

The positive rows are identical, so the hash split puts them all in one split: this row lands in
train (the split is a hash of the serialized tf.Example, so the row's values choose the split)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT
from tests.support.csv_columns import write_csv

pytestmark = pytest.mark.e2e
POSITIVE_ROW = {"x": 7.25, "kind": "blue", "y": "yes"}
COPIES = 8


def pipeline(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=900)


def test_positive_class_absent_from_eval_stops_the_run_with_one_error_line(tmp_path: Path) -> None:
    negatives = 120
    columns = {
        "x": [round(i * 0.37 % 11, 2) for i in range(negatives)] + [POSITIVE_ROW["x"]] * COPIES,
        "kind": [("red", "green")[i % 2] for i in range(negatives)] + [POSITIVE_ROW["kind"]] * COPIES,
        "y": ["no"] * negatives + [POSITIVE_ROW["y"]] * COPIES,
    }
    data = write_csv(tmp_path / "in" / "own.csv", columns)
    state = tmp_path / "state"
    env = {**os.environ, "PIPELINE_MODELS_DIR": str(tmp_path / "models"),
           "PIPELINE_STATE_DIR": str(state)}
    init = pipeline(env, "init", "own", "--data", str(data), "--label", "y")
    assert init.returncode == 0, init.stderr
    done = pipeline(env, "run", "--project", "own", "--train-steps", "5")
    assert done.returncode == 1, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "DataGate failed" in errors[0], done.stderr
    assert "  eval: label 'y' has one value only (no): no row of class 'yes'" in done.stderr.splitlines()
    assert "Traceback" not in done.stderr
    served = state / "serving_model"
    assert not [p for p in served.rglob("*") if p.is_dir() and p.name.isdigit()]  # no version pushed
    root = state / "pipelines" / "own"
    assert not list(root.rglob("Transform")) and not list(root.rglob("Trainer"))
