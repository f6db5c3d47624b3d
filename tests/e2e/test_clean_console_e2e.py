"""Each user command's console, run as a user runs it (a subprocess, in a folder of its own, with
TensorFlow's native logging turned fully on): only the command's own lines, no TensorFlow, absl or
Beam line before or among them, and paths under the working directory shown relative. The verbose
output is in state/logs/<command>.log instead."""

from __future__ import annotations

import csv
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT
from tests.e2e import test_scoring_e2e
from tests.e2e.test_scoring_e2e import ID
from tests.support.csv_columns import multiclass_columns, write_csv

pytestmark = [pytest.mark.e2e, pytest.mark.taxi]
copied_run = test_scoring_e2e.copied_run

# Lines of TensorFlow's C++ log, absl/glog, Python's logging and warnings, Beam, and tracebacks.
FOREIGN = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] "      # TensorFlow's C++ log
    r"|^[IWEF]\d{4} \d\d:\d\d:\d\d"                       # absl / glog
    r"|^(DEBUG|INFO|WARNING|ERROR|CRITICAL):"             # Python logging's default format
    r"|Warning: |warnings\.warn|^\s+warn\("               # Python warnings
    r"|tensorflow|absl|apache_beam|oneDNN|cuda|cuDNN|cuBLAS|TensorRT"
    r"|To enable the following instructions|^Traceback ")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _console(root: Path, *argv: str) -> tuple[int, list[str]]:
    """Run `python -m pipeline ARGV` in root with TensorFlow's native log fully on; its exit code
    and every line it printed on stdout and stderr."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0", "PIPELINE_STATE_DIR": str(root / "state"),
           "PYTHONPATH": str(PROJECT_ROOT), "PYTHONWARNINGS": "default"}
    done = subprocess.run([sys.executable, "-m", "pipeline", *argv], cwd=root, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    return done.returncode, done.stdout.splitlines() + done.stderr.splitlines()


def _labels(root: Path) -> Path:
    """The taxi label of each row of rows.csv, by id, as `feedback` reads it."""
    with (root / "rows.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    path = root / "labels.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([ID, "big_tipper"])
        writer.writerows((row[ID], "1" if float(row["tips"] or 0) > 0.2 * float(row["fare"] or 0)
                          else "0") for row in rows)
    return path


def test_every_command_prints_only_its_own_lines_with_relative_paths(copied_run: Path) -> None:
    root = copied_run
    flags = ["--project", "taxi", "--metadata", str(root / "metadata.sqlite")]
    pushed = [*flags, "--serving-dir", str(root / "serving_model"), "--config-dir",
              str(root / "serving")]
    columns = multiclass_columns()
    columns["species"] = ["yes" if s == "virginica" else "no" for s in columns["species"]]
    flowers = write_csv(root / "flowers.csv", columns)
    # Expected exit codes: monitor exits 1 on an alert (20 rows may well raise one); promote has
    # no canary to promote; --grpc finds no server.
    commands = {
        "init": ({0}, ["init", "flowers", "--data", str(flowers), "--label", "species",
                     "--models-dir", str(root / "models")]),
        "score": ({0}, ["score", *pushed, "--data", str(root / "rows.csv")]),
        "predict": ({0}, ["predict", *pushed, str(root / "rows.csv")]),
        "predict --grpc": ({1}, ["predict", *pushed, "--grpc", f"127.0.0.1:{_closed_port()}",
                               "--timeout", "3", str(root / "rows.csv")]),
        "feedback": ({0}, ["feedback", *flags, "--labels", str(_labels(root))]),
        "monitor": ({0, 1}, ["monitor", str(root / "rows.csv"), *flags, "--serving-config-dir",
                        str(root / "serving")]),
        "promote": ({1}, ["promote", *pushed]),
    }
    for name, (codes, argv) in commands.items():
        exit_code, lines = _console(root, *argv)
        assert exit_code in codes, (name, exit_code, lines)
        assert lines, name
        foreign = [line for line in lines if FOREIGN.search(line)]
        assert not foreign, (name, foreign)
        assert not [line for line in lines if str(root) in line], (name, lines)
    logs = root / "state" / "logs"
    for command in ("score", "predict", "feedback", "monitor", "promote"):
        assert (logs / f"{command}.log").is_file(), command
    assert "tensorflow" in (logs / "predict.log").read_text()
