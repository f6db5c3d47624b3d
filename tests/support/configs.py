"""Test configs: the bundled sample data and a small, fast pipeline config under a temp folder."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import PROJECT_ROOT, PipelineConfig

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
