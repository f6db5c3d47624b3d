"""Shared fixtures: tiny data and one pipeline run per bundled project per session (the TF environment
is the root conftest.py's)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import PipelineConfig
from tests.support.configs import small_config


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


# Each folder of tests/ is one speed class; `make test-unit` runs tests/unit and the projects' tests.
FOLDER_MARKERS = {"e2e": "e2e", "orchestrators": "orchestrator", "services": "service"}
# Test paths are named from the repository root, so a project's tests (models/<name>/tests/) get a
# worker group of their own too.
REPOSITORY = Path(__file__).resolve().parent.parent


# Fixtures whose pipeline runs are made once per session: every test reading them shares one worker.
SHARED_RUN_FIXTURES = {"bundled_runs", "shared_run", "shared_config"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the folder they live in, and group them for `pytest -n` (pytest-xdist, loadgroup)."""
    for item in items:
        parts = _test_path(item).parts
        if parts[:1] == ("tests",) and len(parts) > 2 and parts[1] in FOLDER_MARKERS:
            item.add_marker(FOLDER_MARKERS[parts[1]])
        item.add_marker(pytest.mark.xdist_group(_worker_group(item)))


def _test_path(item: pytest.Item) -> Path:
    """The test's file relative to the repository: tests/... or models/<name>/tests/... (a test
    file elsewhere, as a test's own probe session runs, keeps its absolute path)."""
    path = Path(str(item.fspath)).resolve()
    return path.relative_to(REPOSITORY) if path.is_relative_to(REPOSITORY) else path


def _worker_group(item: pytest.Item) -> str:
    """One worker per file (module fixtures run once); one for all readers of the shared runs."""
    if SHARED_RUN_FIXTURES & set(getattr(item, "fixturenames", ())):
        return "shared_runs"
    return _test_path(item).as_posix()
