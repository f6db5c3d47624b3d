"""Shared fixtures: the TF environment, tiny data, and one pipeline run per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import environment
from pipeline.config import PipelineConfig
from tests.support.configs import small_config

# Entry point of the test process: TensorFlow must see these before anything imports it.
environment.prepare()


@pytest.fixture(scope="session")
def shared_config(tmp_path_factory: pytest.TempPathFactory) -> PipelineConfig:
    """Config of the session's shared run; tests that use it only read its outputs."""
    return small_config(tmp_path_factory.mktemp("shared_run"))


@pytest.fixture(scope="session")
def shared_run(shared_config: PipelineConfig):
    """One full LocalDagRunner run on the sample, shared by every read-only end-to-end test."""
    from pipeline.run.local_runner import run_pipeline

    return run_pipeline(shared_config)


# Each folder of tests/ is one speed class; `make test-unit` runs tests/unit alone.
FOLDER_MARKERS = {"e2e": "e2e", "orchestrators": "orchestrator", "services": "service"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the folder they live in, so markers and the source tree agree."""
    for item in items:
        folder = Path(str(item.fspath)).relative_to(Path(__file__).parent).parts[0]
        if folder in FOLDER_MARKERS:
            item.add_marker(FOLDER_MARKERS[folder])
