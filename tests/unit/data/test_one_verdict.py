"""`check-data`, the DataGate and `monitor` give the same verdict on the same files: each through
its own real path (the command; CsvExampleGen, StatisticsGen, the validator and the DataGate's
executors; monitoring's check), all from pipeline.data.validation.judge."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from google.protobuf import json_format
from tfx.components.statistics_gen.executor import Executor as StatisticsGenExecutor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.types import standard_component_specs as spec

from pipeline.__main__ import main
from pipeline.config.project import load_project
from pipeline.data import validation
from pipeline.graph import csv_example_gen
from pipeline.graph.data_gate import DataGate, DataValidationError
from pipeline.graph.span_validator import SpanValidator, drift_calibration
from pipeline.monitoring import skew_drift
from pipeline.vocabulary import VALUE_SKEW_PROPERTY

# Beam pipelines per file: `make test-unit` skips it, `make test` runs it.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
PROJECT = load_project("penguins", ROOT / "models")
SCHEMA_PATH = ROOT / "models" / "penguins" / "schema.pbtxt"
SOURCE = ROOT / "data" / "penguins" / "penguins.csv"


def rows() -> list[dict[str, str]]:
    with SOURCE.open(newline="") as handle:
        return list(csv.DictReader(handle))


def edited(changes: dict[int, dict[str, str]]) -> list[dict[str, str]]:
    data = rows()
    for row, values in changes.items():
        data[row].update(values)
    return data


# name: (rows, columns dropped, whether every caller stops, the features the verdict names)
CASES = {
    "clean": (rows(), (), False, set()),
    # A bill longer than any in training (the schema has no maximum: not even value skew) and an
    # island never seen (value skew): neither stops.
    "growth": (edited({0: {"bill_length_mm": "80.5"}, 1: {"island": "Atlantis"}}), (), False,
               {"island"}),
    "type_change": (edited({5: {"body_mass_g": "heavy"}}), (), True, {"body_mass_g"}),
    "missing_column": (rows(), ("island",), True, {"island"}),
    "too_many_missing": (edited({i: {"flipper_length_mm": ""} for i in range(60)}), (), True,
                         {"flipper_length_mm"}),
}
FEATURES = {f.name for f in validation.load_curated_schema(SCHEMA_PATH).feature}


def write_case(folder: Path, name: str) -> Path:
    data, dropped, _, _ = CASES[name]
    folder.mkdir(parents=True)
    columns = [c for c in data[0] if c not in dropped]
    with (folder / "data.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(data)
    return folder / "data.csv"


def named(text: str) -> frozenset[str]:
    """The schema's features a text names in quotes."""
    return frozenset(re.findall(r"'([^']+)'", text)) & FEATURES


def check_data(folder: Path, capsys) -> tuple[bool, frozenset[str]]:
    """`python -m pipeline check-data`: stops (exit 1) and the features it names."""
    code = main(["check-data", "--project", "penguins", "--data", str(folder),
                 "--schema", str(SCHEMA_PATH)])
    captured = capsys.readouterr()
    assert code in (0, 1), captured.err
    return code == 1, named(captured.out + captured.err)


def artifact(kind, uri: Path, splits: tuple[str, ...] = ()):
    made = kind()
    made.uri = str(uri)
    uri.mkdir(parents=True, exist_ok=True)
    if splits:
        made.split_names = artifact_utils.encode_split_names(list(splits))
    return made


def data_gate(folder: Path, work: Path) -> tuple[bool, frozenset[str]]:
    """ExampleGen, StatisticsGen, the validator and the DataGate, as a run executes them."""
    examples = artifact(standard_artifacts.Examples, work / "examples")
    splits = example_gen_pb2.SplitConfig(splits=[
        example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=3),
        example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1)])
    csv_example_gen.Executor().Do({}, {spec.EXAMPLES_KEY: [examples]}, {
        spec.INPUT_BASE_KEY: str(folder),
        spec.INPUT_CONFIG_KEY: json_format.MessageToJson(example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name="single_split", pattern="*.csv")])),
        spec.OUTPUT_CONFIG_KEY: json_format.MessageToJson(example_gen_pb2.Output(split_config=splits)),
        spec.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_TF_EXAMPLE,
    })
    statistics = artifact(standard_artifacts.ExampleStatistics, work / "statistics")
    StatisticsGenExecutor().Do({spec.EXAMPLES_KEY: [examples]}, {spec.STATISTICS_KEY: [statistics]},
                               {spec.EXCLUDE_SPLITS_KEY: "[]"})
    schema = artifact(standard_artifacts.Schema, work / "schema")
    (work / "schema" / "schema.pbtxt").write_bytes(SCHEMA_PATH.read_bytes())
    anomalies = artifact(standard_artifacts.ExampleAnomalies, work / "anomalies")
    SpanValidator.EXECUTOR_SPEC.executor_class().Do(
        {"statistics": [statistics], "schema": [schema], "examples": [examples]},
        {"anomalies": [anomalies]}, {"calibration": drift_calibration(PROJECT)})
    validated = artifact(standard_artifacts.Schema, work / "validated")
    project = {**PROJECT.code_view(), "validation": PROJECT.to_dict()["validation"]}
    try:
        DataGate.EXECUTOR_SPEC.executor_class().Do(
            {"anomalies": [anomalies], "statistics": [statistics], "schema": [schema]},
            {"validated_schema": [validated]}, {"project": json.dumps(project)})
    except DataValidationError as stop:
        return True, named(str(stop))
    grown = validated.get_json_value_custom_property(VALUE_SKEW_PROPERTY)
    return False, named("\n".join(grown))


def monitor(file: Path, training: validation.Statistics) -> tuple[bool, frozenset[str]]:
    """Monitoring's schema verdict on a window (what `monitor` prints as SCHEMA and VALUE lines):
    schema lines alert."""
    schema = validation.load_curated_schema(SCHEMA_PATH)
    broken, grown = skew_drift.schema_verdict(validation.csv_statistics(file, schema), schema, (),
                                              PROJECT.validation)
    return bool(broken), named("\n".join(broken + grown))


def test_check_data_the_data_gate_and_monitor_agree_on_every_file(tmp_path: Path, capsys) -> None:
    schema = validation.load_curated_schema(SCHEMA_PATH)
    training = validation.csv_statistics(write_case(tmp_path / "training", "clean"), schema)
    verdicts = {}
    for name, (_, _, stops, features) in CASES.items():
        file = write_case(tmp_path / name, name)
        verdicts[name] = {
            "check-data": check_data(file.parent, capsys),
            "DataGate": data_gate(file.parent, tmp_path / f"{name}-artifacts"),
            "monitor": monitor(file, training),
        }
        assert set(verdicts[name].values()) == {(stops, frozenset(features))}, (name, verdicts[name])
