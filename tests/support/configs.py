"""Test configs: small, fast pipeline configs of the bundled projects under a temp folder."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path

from pipeline.config import PROJECT_ROOT, PipelineConfig, add_run_arguments, config_from_args
from pipeline.config.record import config_record
from pipeline.data import input_files, spans
from pipeline.run import manifest

SAMPLE_DATA = PROJECT_ROOT / "data" / "sample"
TEST_TRAIN_STEPS = 60

# The bundled example projects (models/<name>/project.yaml); the generic end-to-end checks run on each.
BUNDLED_PROJECTS = ("taxi", "penguins")

# Per project: tiny data and blessing bounds a model of a few steps can pass. Taxi trains on the
# 302-row sample; penguins' own data is small already (344 rows). Metric bounds are the task's.
SMALL_SETTINGS: dict[str, dict[str, object]] = {
    "taxi": {"data_dir": SAMPLE_DATA, "min_auc": 0.5},
    "penguins": {"thresholds": (("accuracy", 0.5),)},
}


def small_config(root: Path, project: str = "taxi", **changes: object) -> PipelineConfig:
    """A config of a bundled project on small data with few steps, everything under `root`."""
    values: dict[str, object] = {
        "project": project,
        "pipeline_root": root / "pipeline_root",
        "metadata_path": root / "metadata.sqlite",
        "serving_dir": root / "serving_model",
        "log_dir": root / "logs",
        "train_steps": TEST_TRAIN_STEPS,
        "eval_steps": 5,
        **SMALL_SETTINGS[project],
    }
    values.update(changes)
    return PipelineConfig(**values)


def parse_run_args(argv: Sequence[str], environ: Mapping[str, str]) -> PipelineConfig:
    """`run`'s flags and PIPELINE_* variables into a validated config, as the command parses them."""
    parser = argparse.ArgumentParser(prog="python -m pipeline run")
    add_run_arguments(parser)
    return config_from_args(parser.parse_args(argv), environ)


def span_files(data_dir: Path, span: int) -> list[Path]:
    """The CSV files ExampleGen reads for a span, sorted."""
    return input_files.data_files(spans.span_dir(data_dir, span))


def current_context(config: PipelineConfig) -> str:
    """The run context this config would record, as RecordRunContext stores it (with the Beam
    mode an `auto` config resolves to, as the runners record it)."""
    config = spans.with_beam_mode_for_input(config)
    return manifest.compute(config).run_context_json(config_record(config))
