"""TFX's Trainer, plus the decision threshold its run_fn wrote beside a binary model recorded on
the model artifact in ML Metadata (custom property `decision_threshold`, JSON), so the run summary,
lineage and the MLflow view read it without opening the model."""

from __future__ import annotations

import os
from typing import Any

from tfx import types
from tfx.components.trainer import executor as trainer_executor
from tfx.components.trainer.component import Trainer as TfxTrainer
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import path_utils

from pipeline.vocabulary import (
    DECISION_THRESHOLD_FILE,
    DECISION_THRESHOLD_PROPERTY,
    EXTRA_ASSETS_DIR,
    MODEL_KEY,
    DecisionThreshold,
)


def threshold_file(model_uri: str) -> str:
    """Where run_fn writes the threshold: the serving model's assets.extra."""
    return os.path.join(path_utils.serving_model_path(model_uri), EXTRA_ASSETS_DIR,
                        DECISION_THRESHOLD_FILE)


def record_threshold(model: types.Artifact) -> None:
    """Copy the threshold file's record onto the model artifact (nothing when run_fn wrote none)."""
    path = threshold_file(model.uri)
    if not fileio.exists(path):
        return
    with fileio.open(path, "r") as handle:
        text = handle.read()
    record = DecisionThreshold.from_json(text.decode() if isinstance(text, bytes) else text)
    if record is None:
        raise ValueError(f"{path}: not a decision threshold record")
    model.set_string_custom_property(DECISION_THRESHOLD_PROPERTY, record.to_json())


class ThresholdRecordingExecutor(trainer_executor.GenericExecutor):
    """TFX's generic Trainer executor, then the threshold recorded on the model artifact."""

    def Do(  # TFX's executor interface
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        """Train and export as TFX does, then record the threshold run_fn chose."""
        super().Do(input_dict, output_dict, exec_properties)
        record_threshold(artifact_utils.get_single_instance(output_dict[MODEL_KEY]))


class Trainer(TfxTrainer):
    """TFX's Trainer with ThresholdRecordingExecutor."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(ThresholdRecordingExecutor)
