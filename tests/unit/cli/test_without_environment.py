"""`python -m pipeline` from an interpreter without the project's packages (the README's command on
a fresh clone, before `make env`): one `error:` line saying what to run instead, no traceback."""

from __future__ import annotations

import subprocess
import sys

from pipeline.config import PROJECT_ROOT


def test_an_interpreter_without_the_packages_is_told_what_to_run_instead() -> None:
    # -S: no site-packages, as a system Python without the environment's packages.
    done = subprocess.run([sys.executable, "-S", "-m", "pipeline", "init", "demo", "--data", "d",
                           "--label", "y"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: ") and "Traceback" not in done.stderr
    assert "run .venv/bin/python -m pipeline init demo --data d --label y (make env creates .venv)" in line
