"""The one validation module: schema environments, reading artifacts without TensorFlow on a local
store, and the wording of anomalies each caller prints."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2
from tfx.utils import io_utils

from pipeline import vocabulary
from pipeline.config import PipelineConfig
from pipeline.data import validation
from pipeline.errors import InvalidInput


def anomalies(*features: tuple[str, str], dataset: tuple[str, ...] = ()) -> anomalies_pb2.Anomalies:
    """An Anomalies proto with one reason per (feature, description) and dataset-level reasons."""
    found = anomalies_pb2.Anomalies()
    for feature, description in features:
        found.anomaly_info[feature].reason.add(description=description)
    for description in dataset:
        found.dataset_anomaly_info.reason.add(description=description)
    return found


def write_split(folder: Path, split: str, name: str, content: bytes) -> None:
    (folder / f"Split-{split}").mkdir(parents=True, exist_ok=True)
    (folder / f"Split-{split}" / name).write_bytes(content)


def test_curated_schema_declares_both_environments() -> None:
    curated = io_utils.parse_pbtxt_file(str(PipelineConfig().schema_path), schema_pb2.Schema())
    assert validation.declared(curated, validation.TRAINING) == "TRAINING"
    assert validation.declared(curated, validation.SERVING) == "SERVING"


def test_inferred_schema_without_environments_validates_without_one() -> None:
    inferred = schema_pb2.Schema()
    inferred.feature.add(name="fare", type=schema_pb2.FLOAT)
    assert validation.declared(inferred, validation.TRAINING) is None


def test_schema_columns_leave_out_a_column_absent_in_the_environment() -> None:
    schema = schema_pb2.Schema()
    schema.feature.add(name="fare")
    schema.feature.add(name="tips").not_in_environment.append(validation.SERVING)
    assert validation.schema_columns(schema) == {"fare", "tips"}
    assert validation.schema_columns(schema, validation.SERVING) == {"fare"}


def test_a_curated_schema_that_is_not_a_schema_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "schema.pbtxt"
    broken.write_text("not a schema {")
    with pytest.raises(InvalidInput, match="is not a text schema.pbtxt"):
        validation.load_curated_schema(broken)
    with pytest.raises(InvalidInput, match="is not a file"):
        validation.load_curated_schema(tmp_path / "missing.pbtxt")


def test_a_schema_is_read_from_an_artifact_folder_or_a_file(tmp_path: Path) -> None:
    schema = schema_pb2.Schema()
    schema.feature.add(name="fare", type=schema_pb2.FLOAT)
    (tmp_path / vocabulary.SCHEMA_FILE).write_text(text_format.MessageToString(schema))
    assert validation.read_schema(str(tmp_path)) == schema
    assert validation.read_schema_file(str(tmp_path / vocabulary.SCHEMA_FILE)) == schema


def test_statistics_and_anomalies_are_read_by_split(tmp_path: Path) -> None:
    statistics = statistics_pb2.DatasetFeatureStatisticsList()
    statistics.datasets.add(num_examples=3)
    write_split(tmp_path / "stats", "train", vocabulary.STATISTICS_FILE, statistics.SerializeToString())
    found = anomalies(("fare", "Expected a float"))
    write_split(tmp_path / "anomalies", "eval", vocabulary.ANOMALIES_FILE, found.SerializeToString())
    assert validation.read_statistics(str(tmp_path / "stats"), "train") == statistics
    assert validation.read_anomalies(str(tmp_path / "anomalies"), "eval") == found


def test_the_gate_wording_prefixes_the_split_and_joins_dataset_reasons() -> None:
    found = anomalies(("payment_type", "Unexpected string values"), ("fare", "Expected a float"),
                      dataset=("Low num examples", "High num examples"))
    assert validation.anomaly_lines(found, "train") == [
        "train: feature 'fare': Expected a float",
        "train: feature 'payment_type': Unexpected string values",
        "train: dataset: Low num examples; High num examples",
    ]


def test_monitoring_wording_has_no_split_and_a_line_per_dataset_reason() -> None:
    found = anomalies(("fare", "Expected a float"), dataset=("Low num examples", "High"))
    assert validation.anomaly_lines(found, dataset="each") == [
        "feature 'fare': Expected a float", "dataset: Low num examples", "dataset: High"]


def test_ingest_wording_leaves_dataset_reasons_out() -> None:
    found = anomalies(("fare", "Expected a float"), dataset=("Low num examples",))
    assert validation.anomaly_lines(found, dataset="omitted") == ["feature 'fare': Expected a float"]


def test_a_reason_without_description_uses_its_short_description() -> None:
    found = anomalies_pb2.Anomalies()
    found.anomaly_info["fare"].reason.add(short_description="Missing column")
    assert validation.anomaly_lines(found, "eval") == ["eval: feature 'fare': Missing column"]


def test_artifact_lines_cover_every_split_folder_in_order(tmp_path: Path) -> None:
    write_split(tmp_path, "train", vocabulary.ANOMALIES_FILE,
                anomalies(("payment_type", "Unexpected string values: Bitcoin")).SerializeToString())
    write_split(tmp_path, "eval", vocabulary.ANOMALIES_FILE,
                anomalies(("fare", "Expected a float, got a string")).SerializeToString())
    assert validation.artifact_anomaly_lines(str(tmp_path)) == [
        "eval: feature 'fare': Expected a float, got a string",
        "train: feature 'payment_type': Unexpected string values: Bitcoin",
    ]
    assert validation.artifact_anomaly_lines(str(tmp_path), ["train"]) == [
        "train: feature 'payment_type': Unexpected string values: Bitcoin"]


def test_a_clean_validation_has_no_lines(tmp_path: Path) -> None:
    write_split(tmp_path, "train", vocabulary.ANOMALIES_FILE,
                anomalies_pb2.Anomalies().SerializeToString())
    assert validation.artifact_anomaly_lines(str(tmp_path)) == []


def test_importing_the_module_imports_no_tensorflow() -> None:
    import subprocess
    import sys

    code = ("import sys, pipeline.data.validation; "
            "print(any(m.split('.')[0] in ('tensorflow', 'tensorflow_data_validation', 'tfx') "
            "for m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
