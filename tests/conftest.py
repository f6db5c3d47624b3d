"""Shared fixtures: the TF environment, tiny data, and one pipeline run per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import environment
from pipeline.config import PROJECT_ROOT, PipelineConfig

# Entry point of the test process: TensorFlow must see these before anything imports it.
environment.prepare()

SAMPLE_DATA = PROJECT_ROOT / "data" / "sample"
TEST_TRAIN_STEPS = 60


def small_config(root: Path, **changes: object) -> PipelineConfig:
    """A config on the bundled sample with few steps, everything under `root`."""
    values: dict[str, object] = {
        "data_dir": SAMPLE_DATA,
        "pipeline_root": root / "pipeline_root",
        "metadata_path": root / "metadata.sqlite",
        "serving_dir": root / "serving_model",
        "log_dir": root / "logs",
        "train_steps": TEST_TRAIN_STEPS,
        "eval_steps": 5,
        "min_auc": 0.5,
    }
    values.update(changes)
    return PipelineConfig(**values)


@pytest.fixture(scope="session")
def shared_config(tmp_path_factory: pytest.TempPathFactory) -> PipelineConfig:
    """Config of the session's shared run; tests that use it only read its outputs."""
    return small_config(tmp_path_factory.mktemp("shared_run"))


@pytest.fixture(scope="session")
def shared_run(shared_config: PipelineConfig):
    """One full LocalDagRunner run on the sample, shared by every read-only end-to-end test."""
    from pipeline.local_runner import run_pipeline

    return run_pipeline(shared_config)
