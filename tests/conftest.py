"""Shared fixtures: the TF environment, tiny data, and one pipeline run per bundled project per session."""

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
from pipeline.config import PipelineConfig  # noqa: E402
from tests.support.configs import small_config  # noqa: E402

# Entry point of the test process: TensorFlow must see these before anything imports it.
environment.prepare()
CHECKOUT = Path(__file__).resolve().parents[1]
# Pipeline runs in tests (in-process or `python -m pipeline run` subprocesses) do not mirror
# themselves into MLflow unless a test asks for it (--tracking-uri, or deleting this variable):
# the mirror's own tests cover that, and the other runs stay as fast as before it existed.
os.environ.setdefault("PIPELINE_TRACKING_URI", "off")


class BundledRuns:
    """Runs of the bundled projects, each made at most once per session, when a test first asks.
    Tests that use them only read their outputs."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._factory = tmp_path_factory
        self._configs: dict[str, PipelineConfig] = {}
        self._runs: dict[str, Any] = {}
        self._reruns: dict[str, tuple[PipelineConfig, Any]] = {}

    def config(self, project: str) -> PipelineConfig:
        """Config of the project's shared run."""
        if project not in self._configs:
            self._configs[project] = small_config(self._factory.mktemp(f"shared_run_{project}"), project)
        return self._configs[project]

    def run(self, project: str):
        """One full LocalDagRunner run of the project on its small data."""
        if project not in self._runs:
            from pipeline.run.local_runner import run_pipeline

            self._runs[project] = run_pipeline(self.config(project))
        return self._runs[project]

    def rerun(self, project: str) -> tuple[PipelineConfig, Any]:
        """A second run, unchanged data and code, on a copy of the shared run's state."""
        if project not in self._reruns:
            from pipeline.run.local_runner import run_pipeline

            self.run(project)
            first = self.config(project)
            root = self._factory.mktemp(f"rerun_{project}")
            for name in ("pipeline_root", "serving_model"):
                shutil.copytree(first.pipeline_root.parent / name, root / name)
            shutil.copy(first.metadata_path, root / "metadata.sqlite")
            config = small_config(root, project)
            self._reruns[project] = (config, run_pipeline(config))
        return self._reruns[project]


@pytest.fixture(scope="session")
def bundled_runs(tmp_path_factory: pytest.TempPathFactory) -> BundledRuns:
    """The session's shared runs, keyed by project."""
    return BundledRuns(tmp_path_factory)


@pytest.fixture(scope="session")
def shared_config(bundled_runs: BundledRuns) -> PipelineConfig:
    """Config of the session's shared taxi run; tests that use it only read its outputs."""
    return bundled_runs.config("taxi")


@pytest.fixture(scope="session")
def shared_run(bundled_runs: BundledRuns):
    """One full LocalDagRunner run of taxi on the sample, shared by every read-only end-to-end test."""
    return bundled_runs.run("taxi")


# Each folder of tests/ is one speed class; `make test-unit` runs tests/unit alone.
FOLDER_MARKERS = {"e2e": "e2e", "orchestrators": "orchestrator", "services": "service"}


# Fixtures whose pipeline runs are made once per session: every test reading them shares one worker.
SHARED_RUN_FIXTURES = {"bundled_runs", "shared_run", "shared_config"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the folder they live in, and group them for `pytest -n` (pytest-xdist, loadgroup)."""
    for item in items:
        path = Path(str(item.fspath)).resolve()
        tests = Path(__file__).parent
        folder = path.relative_to(tests).parts[0] if path.is_relative_to(tests) else ""
        if folder in FOLDER_MARKERS:
            item.add_marker(FOLDER_MARKERS[folder])
        item.add_marker(pytest.mark.xdist_group(_worker_group(item, path)))


def _worker_group(item: pytest.Item, path: Path) -> str:
    """One worker per file (module fixtures run once); one for all readers of the shared runs."""
    if SHARED_RUN_FIXTURES & set(getattr(item, "fixturenames", ())):
        return "shared_runs"
    return path.relative_to(CHECKOUT).as_posix() if path.is_relative_to(CHECKOUT) else str(path)


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


CHECKOUT_KEY = pytest.StashKey[hermetic.Snapshot]()
LEFTOVERS_KEY = pytest.StashKey[list[str]]()
