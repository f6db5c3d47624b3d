"""The DataGate's verdict reads each split's statistics artifact and names a label that cannot train."""

from __future__ import annotations

from pathlib import Path

import pytest
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2
from tfx.types import artifact_utils, standard_artifacts

from pipeline.config import PipelineConfig
from pipeline.data import validation
from pipeline.vocabulary import STATISTICS_FILE

# Imports TFX and TFDV: `make test-unit` skips it, `make test` runs it.
pytestmark = pytest.mark.slow


def _statistics(root: Path, tips_max: float) -> standard_artifacts.ExampleStatistics:
    """A StatisticsGen output whose train and eval splits hold the label source columns."""
    artifact = standard_artifacts.ExampleStatistics()
    artifact.uri = str(root)
    artifact.split_names = artifact_utils.encode_split_names(["train", "eval"])
    for split in ("train", "eval"):
        listing = statistics_pb2.DatasetFeatureStatisticsList()
        stats = listing.datasets.add(num_examples=10)
        for name, high in (("tips", tips_max), ("fare", 30.0)):
            feature = stats.features.add(name=name, type=statistics_pb2.FeatureNameStatistics.FLOAT)
            feature.num_stats.common_stats.num_non_missing = 10
            feature.num_stats.min, feature.num_stats.max = 0.0, high
        (root / f"Split-{split}").mkdir(parents=True)
        (root / f"Split-{split}" / STATISTICS_FILE).write_bytes(listing.SerializeToString())
    return artifact


def test_the_gate_names_a_constant_label_source_in_each_split(tmp_path: Path) -> None:
    project = PipelineConfig().declaration
    schema = schema_pb2.Schema()
    for name in ("tips", "fare"):
        schema.feature.add(name=name, type=schema_pb2.FLOAT)

    def label_lines(artifact: standard_artifacts.ExampleStatistics) -> list[str]:
        splits = {split: validation.read_statistics(artifact.uri, split) for split in ("train", "eval")}
        found = validation.judge(splits, schema, project.validation, validation.TRAINING,
                                 project=project)
        return [line for line in found.schema_skew if "label" in line]

    assert label_lines(_statistics(tmp_path / "good", tips_max=9.0)) == []
    assert label_lines(_statistics(tmp_path / "constant", tips_max=0.0)) == [
        f"{split}: label source column 'tips' has one value only (0): nothing to learn"
        for split in ("train", "eval")]
