"""The test process, for the platform's tests (tests/) and each project's own (models/<name>/tests/)
alike: a tree of its own for every default path, the environment TensorFlow must see before anything
imports it, and a session that fails when it leaves a file in the checkout."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.support import hermetic

# Before the pipeline's config is imported (it reads PIPELINE_STATE_DIR once): every default folder
# of this process and of every command a test starts lies in a tree of this session's own.
SESSION_TREE = Path(tempfile.mkdtemp(prefix="pipeline-tests-"))
hermetic.isolate(os.environ, SESSION_TREE)

from pipeline import environment  # noqa: E402

environment.prepare()
# Pipeline runs in tests (in-process or `python -m pipeline run` subprocesses) do not mirror
# themselves into MLflow unless a test asks for it (--tracking-uri, or deleting this variable):
# the mirror's own tests cover that, and the other runs stay as fast as before it existed.
os.environ.setdefault("PIPELINE_TRACKING_URI", "off")
CHECKOUT = Path(__file__).resolve().parent
CHECKOUT_KEY = pytest.StashKey[hermetic.Snapshot]()
LEFTOVERS_KEY = pytest.StashKey[list[str]]()


def _is_controller(config: pytest.Config) -> bool:
    """The process that runs the session: pytest alone, or xdist's controller (not a worker)."""
    return not hasattr(config, "workerinput")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Remember the checkout as the session found it."""
    if _is_controller(session.config):
        session.config.stash[CHECKOUT_KEY] = hermetic.snapshot(CHECKOUT)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session when it left anything in the checkout; remove this process's own tree."""
    shutil.rmtree(SESSION_TREE, ignore_errors=True)
    before = session.config.stash.get(CHECKOUT_KEY, None)
    if before is None:
        return
    found = hermetic.leftovers(before, hermetic.snapshot(CHECKOUT))
    session.config.stash[LEFTOVERS_KEY] = found
    if found:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Name what the session left in the checkout, under the usual summary."""
    found = config.stash.get(LEFTOVERS_KEY, [])
    if found:
        terminalreporter.write_line(hermetic.report(found), red=True)
