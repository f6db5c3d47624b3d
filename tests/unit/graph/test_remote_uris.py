"""Every custom component, and the readers of artifacts, on a file system that is not this disk.

Artifacts live under TensorFlow's in-memory `ram://` file system (Beam sees it through
tests/support/ram_filesystem.py): code that applies pathlib, open or shutil to an artifact URI
fails here, as it would on gs://. Each executor runs directly, in process, on a handful of rows.
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path

import pytest
import tensorflow as tf
from google.protobuf import json_format, text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2
from tfx.proto import example_gen_pb2, pusher_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.types import standard_component_specs as spec
from tfx.types.artifact import Artifact

from pipeline import vocabulary
from pipeline.config import PipelineConfig
from pipeline.config.project import DriftThresholds
from pipeline.data import validation
from pipeline.data.drift import Kind
from pipeline.graph import csv_example_gen, data_gate, serving_pusher
from pipeline.graph.curated_schema import ImportCuratedSchema
from pipeline.graph.data_gate import DataGate, DataValidationError, DriftStop
from pipeline.graph.record_run_context import RecordRunContext, RunContext
from pipeline.graph.span_validator import SpanValidator, drift_calibration
from pipeline.monitoring import skew_drift
from pipeline.monitoring.columns import Watched
from pipeline.run import reproduce
from pipeline.serving import layout, warmup
from tests.support.configs import SAMPLE_DATA
from tests.support.mlmd_fake import FakePipeline, served_from
from tests.support.ram_filesystem import fresh_root, tree  # also gives Beam ram://
from tests.support.serving_protos import read_warmup

# Runs TensorFlow and Beam: `make test-unit` skips it, `make test` runs it.
pytestmark = pytest.mark.slow

SAMPLE_ROWS = 40
CLIENT_FEATURES = ["trip_miles", "payment_type"]


def artifact(kind: type[Artifact], uri: str, splits: tuple[str, ...] = ()) -> Artifact:
    """An artifact of `kind` at `uri`, its folder created, with its split names."""
    made = kind()
    made.uri = uri
    tf.io.gfile.makedirs(uri)
    if splits:
        made.split_names = artifact_utils.encode_split_names(list(splits))
    return made


def write(path: str, data: bytes) -> None:
    """Write bytes through TensorFlow's file systems, creating the folder."""
    tf.io.gfile.makedirs(posixpath.dirname(path))
    with tf.io.gfile.GFile(path, "wb") as handle:
        handle.write(data)


def sample_csv(rows: int = SAMPLE_ROWS) -> bytes:
    """The header and the first rows of the bundled sample."""
    lines = next(SAMPLE_DATA.glob("*.csv")).read_bytes().splitlines(keepends=True)
    return b"".join(lines[: rows + 1])


def run_example_gen(input_base: str, output: str) -> dict[str, list[bytes]]:
    """Run the CSV executor in process; each split's records, sorted."""
    examples = artifact(standard_artifacts.Examples, output)
    splits = example_gen_pb2.SplitConfig(splits=[
        example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=3),
        example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1)])
    properties = {
        spec.INPUT_BASE_KEY: input_base,
        spec.INPUT_CONFIG_KEY: json_format.MessageToJson(example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name="single_split", pattern="*.csv")])),
        spec.OUTPUT_CONFIG_KEY: json_format.MessageToJson(
            example_gen_pb2.Output(split_config=splits)),
        spec.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_TF_EXAMPLE,
    }
    csv_example_gen.Executor().Do({}, {spec.EXAMPLES_KEY: [examples]}, properties)
    records = {}
    for split in ("train", "eval"):
        files = tf.io.gfile.glob(posixpath.join(output, f"Split-{split}", "*"))
        records[split] = sorted(r.numpy() for r in tf.data.TFRecordDataset(files, "GZIP"))
    return records


@pytest.fixture(scope="module")
def ram_examples() -> str:
    """ExampleGen's output of the sample's first rows, read from and written to ram://."""
    root = fresh_root("examples")
    write(f"{root}/input/data.csv", sample_csv())
    run_example_gen(f"{root}/input", f"{root}/examples")
    return f"{root}/examples"


def test_example_gen_on_ram_writes_what_it_writes_locally(ram_examples: str, tmp_path: Path):
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "data.csv").write_bytes(sample_csv())
    local = run_example_gen(str(tmp_path / "input"), str(tmp_path / "examples"))
    remote = {split: sorted(r.numpy() for r in tf.data.TFRecordDataset(
        tf.io.gfile.glob(f"{ram_examples}/Split-{split}/*"), "GZIP")) for split in local}
    assert remote == local
    assert sum(len(rows) for rows in remote.values()) == SAMPLE_ROWS
    assert {len(rows) > 0 for rows in remote.values()} == {True}


def test_reproduce_reads_examples_from_ram(ram_examples: str):
    rows = reproduce.read_examples(ram_examples)
    assert sorted(rows) == ["Split-eval", "Split-train"]
    assert sum(len(r) for r in rows.values()) == SAMPLE_ROWS
    assert all("trip_miles" in row for split in rows.values() for row in split)


def test_record_run_context_writes_its_json_to_ram():
    root = fresh_root("context")
    examples = artifact(standard_artifacts.Examples, f"{root}/examples")
    examples.set_int_custom_property("span", 3)
    context = artifact(RunContext, f"{root}/context")
    values = {"git_commit": "abc", "config": {"spans": "3"}}
    executor = RecordRunContext.EXECUTOR_SPEC.executor_class()
    executor.Do({"examples": [examples]}, {"run_context": [context]}, {"context": json.dumps(values)})
    assert tree(context.uri) == {"run_context.json": json.dumps(values, indent=2).encode()}
    assert context.get_string_custom_property("examples_span") == "3"
    assert context.get_string_custom_property("examples_uri") == examples.uri


def curated_schema() -> schema_pb2.Schema:
    """Two numeric features, one required: a schema small enough to reason about."""
    return text_format.Parse(
        'feature { name: "trip_miles" type: FLOAT presence { min_fraction: 1.0 } }\n'
        'feature { name: "fare" type: FLOAT presence { min_count: 1 } }\n', schema_pb2.Schema())


def test_curated_schema_is_imported_from_and_into_ram():
    root = fresh_root("import")
    text = text_format.MessageToString(curated_schema()).encode()
    write(f"{root}/curated/schema.pbtxt", text)
    schema = artifact(standard_artifacts.Schema, f"{root}/schema")
    ImportCuratedSchema.EXECUTOR_SPEC.executor_class().Do(
        {}, {spec.SCHEMA_KEY: [schema]},
        {spec.SCHEMA_FILE_KEY: f"{root}/curated/schema.pbtxt", "schema_sha256": "unused"})
    assert tree(schema.uri) == {"schema.pbtxt": text}
    assert validation.read_schema(schema.uri) == curated_schema()


def statistics_without_fare() -> statistics_pb2.DatasetFeatureStatisticsList:
    """Statistics of 10 rows that carry trip_miles only: the schema's 'fare' went missing."""
    return text_format.Parse(
        'datasets { num_examples: 10 features { path { step: "trip_miles" } type: FLOAT '
        'num_stats { common_stats { num_non_missing: 10 min_num_values: 1 max_num_values: 1 '
        'avg_num_values: 1 tot_num_values: 10 } mean: 2.0 max: 5.0 } } }',
        statistics_pb2.DatasetFeatureStatisticsList())


def test_span_validator_reads_and_writes_ram(ram_examples: str):
    root = fresh_root("validate")
    statistics = artifact(standard_artifacts.ExampleStatistics, f"{root}/stats", ("train",))
    write(f"{statistics.uri}/Split-train/FeatureStats.pb",
          statistics_without_fare().SerializeToString())
    schema = artifact(standard_artifacts.Schema, f"{root}/schema")
    write(f"{schema.uri}/schema.pbtxt", text_format.MessageToString(curated_schema()).encode())
    anomalies = artifact(standard_artifacts.ExampleAnomalies, f"{root}/anomalies")
    examples = artifact(standard_artifacts.Examples, ram_examples, ("train", "eval"))
    examples.set_int_custom_property(vocabulary.SPAN_PROPERTY, 4)  # as ExampleGen records it
    previous = artifact(standard_artifacts.Examples, ram_examples, ("train", "eval"))
    previous.set_int_custom_property(vocabulary.SPAN_PROPERTY, 3)
    calibration = drift_calibration(PipelineConfig().declaration)
    SpanValidator.EXECUTOR_SPEC.executor_class().Do(
        {"statistics": [statistics], "schema": [schema], "examples": [examples],
         "previous_examples": [previous]},
        {"anomalies": [anomalies]}, {"span": 4, "calibration": calibration})
    assert list(tree(anomalies.uri)) == ["Split-train/SchemaDiff.pb"]
    assert list(validation.read_anomalies(anomalies.uri, "train").anomaly_info) == ["fare"]
    assert validation.read_statistics(statistics.uri, "train") == statistics_without_fare()
    assert anomalies.get_json_value_custom_property("blessed") == {"train": 0}
    verdict = data_gate.span_verdict(anomalies, statistics, curated_schema(),
                                     PipelineConfig().declaration)
    assert verdict.schema_skew[0].startswith("span 4 train: feature 'fare'")
    # Every declared feature read from ram:// and compared with the same examples: no drift.
    assert anomalies.get_json_value_custom_property(vocabulary.DRIFT_PROPERTY) == []
    checks = anomalies.get_json_value_custom_property(vocabulary.DRIFT_CHECKS_PROPERTY)
    assert {c["feature"] for c in checks if "distance" in c} == set(json.loads(calibration)["features"])
    assert all(c["distance"] == 0.0 and not c["crossed"] for c in checks if "distance" in c)
    assert {(c["span"], c["baseline_span"], c["split"]) for c in checks} == {(4, 3, "train+eval")}


def gate(
    root: str, found: anomalies_pb2.Anomalies,
    computed: statistics_pb2.DatasetFeatureStatisticsList | None = None,
    drifted: tuple[dict, ...] = (), policy: str = "retrain", accepted: bool = False,
) -> tuple[Artifact, bytes]:
    """Run the DataGate on one span's anomalies (with the drift its validator recorded, accepted
    or not) and statistics (default: label sources that can train) in ram://, under a
    `validation.drift` policy; the validated schema and the source."""
    anomalies = artifact(standard_artifacts.ExampleAnomalies, f"{root}/anomalies", ("train",))
    write(f"{anomalies.uri}/Split-train/SchemaDiff.pb", found.SerializeToString())
    anomalies.set_json_value_custom_property(vocabulary.DRIFT_PROPERTY, list(drifted))
    if accepted:
        anomalies.set_string_custom_property(vocabulary.DRIFT_ACCEPTED_PROPERTY, "{}")
    schema = artifact(standard_artifacts.Schema, f"{root}/schema")
    with_label = curated_schema()
    with_label.feature.add(name="tips", type=schema_pb2.FLOAT)
    text = text_format.MessageToString(with_label).encode()
    write(f"{schema.uri}/schema.pbtxt", text)
    statistics = artifact(standard_artifacts.ExampleStatistics, f"{root}/statistics", ("train",))
    write(f"{statistics.uri}/Split-train/{vocabulary.STATISTICS_FILE}",
          (computed or label_source_statistics()).SerializeToString())
    validated = artifact(standard_artifacts.Schema, f"{root}/validated")
    declaration = PipelineConfig().declaration.to_dict()
    project = json.dumps({**declaration, "validation": {**declaration["validation"], "drift": policy}})
    DataGate.EXECUTOR_SPEC.executor_class().Do(
        {"anomalies": [anomalies], "statistics": [statistics], "schema": [schema]},
        {"validated_schema": [validated]}, {"project": project})
    return validated, text


def label_source_statistics() -> statistics_pb2.DatasetFeatureStatisticsList:
    """A train split of the schema's columns whose label sources (taxi: tips, fare) can train."""
    listing = statistics_pb2.DatasetFeatureStatisticsList()
    stats = listing.datasets.add(num_examples=10)
    for name in ("tips", "fare", "trip_miles"):
        feature = stats.features.add(name=name, type=statistics_pb2.FeatureNameStatistics.FLOAT)
        common = feature.num_stats.common_stats
        common.num_non_missing = common.tot_num_values = 10
        common.min_num_values = common.max_num_values = 1
        feature.num_stats.min, feature.num_stats.max = 0.0, 9.0
    return listing


def test_data_gate_passes_the_schema_on_within_ram():
    validated, text = gate(fresh_root("gate"), anomalies_pb2.Anomalies())
    assert tree(validated.uri) == {"schema.pbtxt": text}


def test_data_gate_trains_on_calibrated_drift_and_stops_on_it_only_when_declared():
    """A declared feature's calibrated drift (what SpanValidator records) is copied onto the
    validated schema with its spans; `validation: {drift: stop}` stops on it until accepted."""
    measured = {"feature": "trip_miles", "measure": "wasserstein/mad", "distance": 0.9,
                "threshold": 0.6, "split": "train+eval", "span": 5, "baseline_span": 4}
    validated, _ = gate(fresh_root("gate"), anomalies_pb2.Anomalies(), drifted=(measured,))
    [recorded] = validated.get_json_value_custom_property(vocabulary.DRIFT_PROPERTY)
    assert recorded == {**measured, "baseline": "none", "accepted": False}
    with pytest.raises(DriftStop, match="span 5 train\\+eval: feature 'trip_miles': "
                       "wasserstein/mad distance 0.9 above threshold 0.6"):
        gate(fresh_root("gate"), anomalies_pb2.Anomalies(), drifted=(measured,), policy="stop")
    validated, _ = gate(fresh_root("gate"), anomalies_pb2.Anomalies(), drifted=(measured,),
                        policy="stop", accepted=True)
    assert validated.get_json_value_custom_property(vocabulary.DRIFT_PROPERTY)[0]["accepted"]


def test_data_gate_reads_anomalies_from_ram_and_stops():
    root = fresh_root("gate")
    found = anomalies_pb2.Anomalies()
    found.anomaly_info["fare"].reason.add(description="Column is completely missing")
    with pytest.raises(DataValidationError, match="train: feature 'fare': "):
        gate(root, found, statistics_without_fare())
    assert tree(f"{root}/validated") == {}


def pusher_inputs(root: str, examples_uri: str) -> dict[str, list[Artifact]]:
    """A blessed 'model' (a few files: the pusher hashes and copies, it does not load them) and
    the examples it was evaluated on, all under ram://."""
    model = artifact(standard_artifacts.Model, f"{root}/model")
    write(f"{model.uri}/Format-Serving/saved_model.pb", b"graph")
    write(f"{model.uri}/Format-Serving/variables/variables.index", b"index")
    blessing = artifact(standard_artifacts.ModelBlessing, f"{root}/blessing")
    blessing.set_int_custom_property("blessed", 1)
    examples = standard_artifacts.Examples()
    examples.uri = examples_uri
    return {"model": [model], "model_blessing": [blessing], "examples": [examples]}


def push(inputs: dict[str, list[Artifact]], pushed_uri: str, serving: Path) -> Artifact:
    """One ServingPusher execution into the local serving folder `serving/taxi`."""
    pushed = artifact(standard_artifacts.PushedModel, pushed_uri)
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=str(serving / "taxi")))
    properties = {
        spec.PUSH_DESTINATION_KEY: json_format.MessageToJson(destination),
        "custom_config": json.dumps({serving_pusher.SERVING_FEATURES: CLIENT_FEATURES}),
    }
    serving_pusher.ServingPushExecutor().Do(inputs, {"pushed_model": [pushed]}, properties)
    return pushed


def test_serving_pusher_publishes_a_model_stored_in_ram(ram_examples: str, tmp_path: Path):
    root = fresh_root("push")
    inputs = pusher_inputs(root, ram_examples)
    pushed = push(inputs, f"{root}/pushed", tmp_path)
    version_dir = tmp_path / "taxi" / "1"
    assert pushed.get_string_custom_property("push_decision") == "pushed as version 1"
    assert (version_dir / "saved_model.pb").read_bytes() == b"graph"
    assert (version_dir / "variables" / "variables.index").read_bytes() == b"index"
    fingerprint = pushed.get_string_custom_property("model_fingerprint")
    assert fingerprint == layout.model_fingerprint(version_dir)
    assert tree(pushed.uri) == {"saved_model.pb": b"graph", "variables/variables.index": b"index"}
    logs = read_warmup(version_dir / layout.ASSETS_EXTRA / warmup.WARMUP_FILE)
    assert len(logs) == warmup.WARMUP_ROWS + 1
    first = tf.make_ndarray(logs[0].predict_log.request.inputs[vocabulary.SERVING_INPUT])[0]
    assert sorted(tf.train.Example.FromString(first).features.feature) == sorted(CLIENT_FEATURES)
    again = push(inputs, f"{root}/pushed-again", tmp_path)
    assert again.get_string_custom_property("push_decision") == (
        "identical model already served as version 1")
    assert sorted(p.name for p in (tmp_path / "taxi").iterdir()) == ["1"]


def test_warmup_names_the_ram_folder_without_examples():
    root = fresh_root("empty")
    tf.io.gfile.makedirs(f"{root}/Split-eval")
    with pytest.raises(warmup.WarmupError, match=f"no example files in {root}/Split-eval "):
        warmup.read_serving_examples(root, CLIENT_FEATURES)


def test_monitoring_reads_the_served_runs_examples_and_schema_from_ram(tmp_path: Path):
    import tensorflow_data_validation as tfdv

    window = tmp_path / "window.csv"
    window.write_bytes(sample_csv())
    training = tfdv.generate_statistics_from_csv(str(window))
    root = fresh_root("monitor")
    write(f"{root}/input/data.csv", sample_csv())
    run_example_gen(f"{root}/input", f"{root}/examples")
    write(f"{root}/stats/Split-train/FeatureStats.pb", training.SerializeToString())
    write(f"{root}/schema/schema.pbtxt",
          text_format.MessageToString(tfdv.infer_schema(training)).encode())
    fake = FakePipeline(tmp_path / "metadata.sqlite", "taxi")
    served_from(fake, root)
    watched = Watched({"trip_miles": Kind.NUMERIC, "payment_type": Kind.CATEGORICAL}, {},
                      DriftThresholds())
    result = skew_drift.monitor(window, fake.store, "taxi", tmp_path / "state", tmp_path / "report",
                                watched)
    assert (result.schema, result.skew, result.drift) == ([], [], [])  # the very rows it trained on
    assert [(c.feature, c.comparison) for c in result.checks] == [
        ("trip_miles", "skew"), ("payment_type", "skew")]
    assert result.report_path is not None
    assert "training data of run `run-1` (served version 1)" in result.report_path.read_text()
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == sorted(
        ["report.md", *(f"{name}.png" for name in CLIENT_FEATURES)])
