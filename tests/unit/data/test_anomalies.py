"""Anomalies in words, read from an ExampleAnomalies folder without TensorFlow."""

from __future__ import annotations

from pathlib import Path

from tensorflow_metadata.proto.v0 import anomalies_pb2

from pipeline.data.anomalies import ANOMALIES_FILE, local_anomaly_lines


def write(folder: Path, split: str, feature: str, description: str) -> None:
    anomalies = anomalies_pb2.Anomalies()
    anomalies.anomaly_info[feature].reason.add(description=description)
    (folder / f"Split-{split}").mkdir(parents=True)
    (folder / f"Split-{split}" / ANOMALIES_FILE).write_bytes(anomalies.SerializeToString())


def test_one_line_per_split_and_feature(tmp_path: Path) -> None:
    write(tmp_path, "train", "payment_type", "Unexpected string values: Bitcoin")
    write(tmp_path, "eval", "fare", "Expected a float, got a string")
    assert local_anomaly_lines(str(tmp_path)) == [
        "eval: feature 'fare': Expected a float, got a string",
        "train: feature 'payment_type': Unexpected string values: Bitcoin",
    ]


def test_a_clean_validation_has_no_lines(tmp_path: Path) -> None:
    (tmp_path / "Split-train").mkdir()
    (tmp_path / "Split-train" / ANOMALIES_FILE).write_bytes(anomalies_pb2.Anomalies().SerializeToString())
    assert local_anomaly_lines(str(tmp_path)) == []
