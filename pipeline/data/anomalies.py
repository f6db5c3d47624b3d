"""TFDV's anomalies in words: one line per anomalous feature and split (TF-free, protos only)."""

from __future__ import annotations

from tensorflow_metadata.proto.v0 import anomalies_pb2

from pipeline.metadata import artifact_files
from pipeline.vocabulary import ANOMALIES_FILE, SPLIT_PREFIX


def describe(anomalies: anomalies_pb2.Anomalies, split: str) -> list[str]:
    """'<split>: feature '<name>': <reasons>' lines, then a dataset-level line if any."""
    lines = []
    for feature, info in sorted(anomalies.anomaly_info.items()):
        reasons = "; ".join(r.description or r.short_description for r in info.reason)
        lines.append(f"{split}: feature '{feature}': {reasons}")
    if anomalies.HasField("dataset_anomaly_info"):
        reasons = "; ".join(r.description for r in anomalies.dataset_anomaly_info.reason)
        lines.append(f"{split}: dataset: {reasons}")
    return lines


def local_anomaly_lines(anomalies_uri: str) -> list[str]:
    """Every split's anomalies in an ExampleAnomalies folder (Split-<name>/SchemaDiff.pb)."""
    lines = []
    for path in artifact_files.glob(anomalies_uri, f"{SPLIT_PREFIX}*/{ANOMALIES_FILE}"):
        anomalies = anomalies_pb2.Anomalies.FromString(artifact_files.read_bytes(path))
        split = path.rstrip("/").split("/")[-2].removeprefix(SPLIT_PREFIX)
        lines += describe(anomalies, split)
    return lines
