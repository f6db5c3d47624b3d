"""Every command of the README, run exactly as written, in order, in a fresh clone of the checkout.

The clone is the checkout's commit plus its uncommitted changes to tracked files, in a temporary
folder, with the checkout's `.venv` and `.tools` linked in (the lock file and pyproject are dated
before the environment's sync, so `make` finds it up to date instead of re-creating it). The
commands see a reader's environment: no PIPELINE_* variables but the state folder (the clone's own
`state/`, the default), a home folder of their own, and EDITOR=true (the review step's editor,
closed at once). A console block's output is compared line by line; the long-running commands named
in the README's `readme-test` marker are started, must print their line, and are stopped with
Ctrl-C. Takes about 5 minutes on an idle 2-core machine (two pipeline runs on the bundled data).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT
from tests.support import readme

pytestmark = pytest.mark.e2e

# A command of the README that does not finish within this long has failed (a loaded machine).
COMMAND_TIMEOUT_S = 1200
# How long a long-running command may take to print the line that shows it started.
START_TIMEOUT_S = 600
STOP_TIMEOUT_S = 60
# The reader's environment, from the test process's own: what a shell on the machine has.
KEPT_VARIABLES = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "USER", "LOGNAME", "SHELL", "TERM")


def fresh_clone(root: Path) -> Path:
    """`git clone` of the checkout, its uncommitted edits applied, its environment linked in."""
    clone = root / "clone"
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(PROJECT_ROOT), str(clone)],
                   check=True)
    subprocess.run(["git", "checkout", "--quiet", "--detach", head], cwd=clone, check=True)
    edits = subprocess.run(["git", "diff", "HEAD", "--binary"], cwd=PROJECT_ROOT, check=True,
                           capture_output=True).stdout
    if edits:
        subprocess.run(["git", "apply", "--whitespace=nowarn"], cwd=clone, input=edits, check=True)
    for name in (".venv", ".tools"):
        (clone / name).symlink_to((PROJECT_ROOT / name).resolve())
    synced = (clone / ".venv" / ".synced").stat().st_mtime
    for name in ("uv.lock", "pyproject.toml"):
        os.utime(clone / name, (synced - 60, synced - 60))
    return clone


def reader_environment(root: Path, clone: Path) -> dict[str, str]:
    """A shell's variables on a fresh machine: no PIPELINE_*, a home and state of the test's own."""
    env = {k: os.environ[k] for k in KEPT_VARIABLES if k in os.environ}
    (root / "home").mkdir()
    env.update(HOME=str(root / "home"), PIPELINE_STATE_DIR=str(clone / "state"), EDITOR="true")
    return env


def run_to_end(step: readme.Step, clone: Path, env: dict[str, str]) -> None:
    """The command exits 0; a transcript's output is printed as the README shows it."""
    done = subprocess.run(["bash", "-c", step.command], cwd=clone, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=COMMAND_TIMEOUT_S)
    assert done.returncode == 0, f"`{step.command}` exited {done.returncode}:\n{done.stdout[-4000:]}"
    if step.output is not None:
        printed = done.stdout.splitlines()
        assert readme.matches(step.output, printed), (
            f"`{step.command}` printed:\n" + "\n".join(printed) + "\nthe README shows:\n" +
            "\n".join(step.output))


def start_and_stop(step: readme.Step, clone: Path, env: dict[str, str]) -> None:
    """The command prints its line before it ends or times out, then stops on Ctrl-C."""
    assert step.started_when is not None
    process = subprocess.Popen(["bash", "-c", step.command], cwd=clone, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    assert process.stdout is not None
    printed: list[str] = []
    # A command silent past the deadline is killed: its output then ends and the loop with it.
    timer = threading.Timer(START_TIMEOUT_S, os.killpg, (process.pid, signal.SIGKILL))
    timer.start()
    try:
        for line in process.stdout:
            printed.append(line.rstrip("\n"))
            if step.started_when in line:
                break
        assert any(step.started_when in line for line in printed), (
            f"`{step.command}` did not print {step.started_when!r}:\n" + "\n".join(printed[-60:]))
    finally:
        timer.cancel()
        _interrupt(process)


def _interrupt(process: subprocess.Popen) -> None:
    """Ctrl-C to the command's process group; killed if it does not stop."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    try:  # whatever the command started and left behind (a server's workers)
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if process.stdout is not None:
        process.stdout.close()


@pytest.mark.skipif(shutil.which("git") is None or shutil.which("make") is None
                    or not (PROJECT_ROOT / ".git").exists(),
                    reason="needs a git checkout, git and make, as the README's reader does")
@pytest.mark.skipif(not (PROJECT_ROOT / ".venv" / ".synced").exists(),
                    reason="needs the environment `make env` builds (.venv/.synced), to link in")
def test_every_readme_command_works_as_written_in_a_fresh_clone(tmp_path: Path) -> None:
    steps = readme.read(PROJECT_ROOT / "README.md")
    assert steps, "the README has no runnable command block"
    clone = fresh_clone(tmp_path)
    env = reader_environment(tmp_path, clone)
    for step in steps:
        if step.started_when is None:
            run_to_end(step, clone, env)
        else:
            start_and_stop(step, clone, env)
