"""The served contract of a pushed model: signatures, warmup replay, REST/gRPC requests, config.

TF Serving's binary cannot run here, so each check goes through what the server itself uses:
TF's SavedModel loader, saved_model_cli, TF Serving's protos, and its documented REST decoding.
"""

from __future__ import annotations

import base64
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.framework import types_pb2
from tensorflow_serving.config import model_server_config_pb2

from pipeline import vocabulary
from pipeline.__main__ import main
from pipeline.metadata import records
from pipeline.serving import client, layout, server_config, warmup
from tests.support.configs import SAMPLE_DATA
from tests.support.serving_protos import read_warmup
from tools import taxi as features

pytestmark = [pytest.mark.e2e, pytest.mark.taxi]
DEFAULT, RAW = vocabulary.SERVING_SIGNATURE, vocabulary.RAW_SIGNATURE
ROWS = 8


@pytest.fixture(scope="module")
def version_dir(shared_run, shared_config) -> Path:
    """The single version the shared run pushed."""
    base = layout.model_base_path(shared_config.serving_dir, shared_config.model_name)
    assert layout.list_versions(base) == [1]
    return base / "1"


@pytest.fixture(scope="module")
def model(version_dir):
    """The pushed SavedModel loaded the way TF Serving loads it (tag 'serve')."""
    return tf.saved_model.load(str(version_dir), tags=["serve"])


@pytest.fixture(scope="module")
def input_types(model) -> dict[str, str]:
    """DT_* names of the raw signature's inputs, as TF Serving's metadata reports them."""
    specs = model.signatures[RAW].structured_input_signature[1]
    return {k: types_pb2.DataType.Name(s.dtype.as_datatype_enum) for k, s in specs.items()}


@pytest.fixture(scope="module")
def complete_rows_csv(tmp_path_factory) -> Path:
    """The first ROWS sample rows with every raw feature present (all CSV columns kept)."""
    with (SAMPLE_DATA / "data.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = [r for r in reader if all(r[k].strip() for k in features.raw_feature_keys())]
    path = tmp_path_factory.mktemp("client") / "rows.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows[:ROWS])
    return path


def _probabilities(model, signature: str, inputs: dict[str, tf.Tensor]) -> np.ndarray:
    """Call a signature and return its probabilities as a flat array."""
    output = model.signatures[signature](**inputs)["probabilities"]
    assert output.shape == (next(iter(inputs.values())).shape[0], 1)
    return output.numpy().reshape(-1)


# --- warmup ------------------------------------------------------------------------------------


def test_warmup_requests_replay_through_the_saved_model(version_dir, model, shared_config):
    logs = read_warmup(version_dir / layout.ASSETS_EXTRA / warmup.WARMUP_FILE)
    assert len(logs) == warmup.WARMUP_ROWS + 1
    started = time.perf_counter()
    for log in logs:
        request = log.predict_log.request
        assert request.model_spec.name == shared_config.model_name
        assert request.model_spec.signature_name == DEFAULT
        assert set(request.inputs) == {vocabulary.SERVING_INPUT}
        inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        probabilities = _probabilities(model, DEFAULT, inputs)
        assert np.all((probabilities >= 0) & (probabilities <= 1))
    seconds = time.perf_counter() - started
    batch_sizes = [log.predict_log.request.inputs["examples"].tensor_shape.dim[0].size
                   for log in logs]
    assert batch_sizes == [1] * warmup.WARMUP_ROWS + [warmup.WARMUP_ROWS]
    print(f"\nwarmup: {len(logs)} records replayed in {seconds:.3f} s")


def test_warmup_rows_are_the_first_eval_rows_without_label_sources(version_dir, shared_run):
    from tensorflow.core.example import example_pb2

    logs = read_warmup(version_dir / layout.ASSETS_EXTRA / warmup.WARMUP_FILE)
    sent = [example_pb2.Example.FromString(s)
            for s in logs[-1].predict_log.request.inputs["examples"].string_val]
    (examples,) = shared_run.summary.component("CsvExampleGen").outputs["examples"]
    eval_files = sorted(str(p) for p in (Path(examples.uri) / "Split-eval").iterdir())
    serialized = tf.data.TFRecordDataset(eval_files, compression_type="GZIP").take(len(sent))
    originals = [example_pb2.Example.FromString(r.numpy()) for r in serialized]
    assert len(sent) == len(originals) == warmup.WARMUP_ROWS
    raw_keys = set(features.raw_feature_keys())
    for row, original in zip(sent, originals, strict=True):
        kept = set(row.features.feature)
        assert kept == raw_keys & set(original.features.feature)
        assert not kept & (set(features.label_source_keys()) - raw_keys)
        for key in kept:
            assert row.features.feature[key] == original.features.feature[key], key
    pusher = shared_run.summary.component("ServingPusher")
    (pushed,) = pusher.outputs["pushed_model"]
    assert records.custom_property(pushed, "warmup_requests") == len(logs)


# --- signatures --------------------------------------------------------------------------------


def _signature_blocks(text: str) -> dict[str, str]:
    """saved_model_cli's output split into one block per signature_def."""
    parts = text.split("signature_def['")[1:]
    return {part.split("'", 1)[0]: part for part in parts}


def test_saved_model_cli_lists_both_serving_signatures(version_dir):
    cli = Path(sys.executable).parent / "saved_model_cli"
    shown = subprocess.run([str(cli), "show", "--all", "--dir", str(version_dir)],
                           capture_output=True, text=True, check=True, timeout=300).stdout
    blocks = _signature_blocks(shown)
    assert {DEFAULT, RAW} <= set(blocks)
    default = blocks[DEFAULT]
    assert ("inputs['examples'] tensor_info:\n        dtype: DT_STRING\n"
            "        shape: (-1)") in default
    raw_inputs = {line.split("'")[1] for line in blocks[RAW].splitlines() if "inputs['" in line}
    assert raw_inputs == set(features.raw_feature_keys())
    for block in (default, blocks[RAW]):
        assert ("outputs['probabilities'] tensor_info:\n        dtype: DT_FLOAT\n"
                "        shape: (-1, 1)") in block
        assert "Method name is: tensorflow/serving/predict" in block


# --- REST and gRPC requests, decoded as TF Serving decodes them --------------------------------


def decode_rest_instances(body: dict, signature) -> dict[str, tf.Tensor]:
    """TF Serving's row format: `instances` is a list of objects keyed by input name (every
    instance has the same keys), values of one key are stacked on a new batch dimension,
    `{"b64": ...}` is base64 binary for DT_STRING inputs, numbers take the input's dtype
    (integers only for integer inputs), plain JSON strings are UTF-8 bytes."""
    specs = signature.structured_input_signature[1]
    instances = body["instances"]
    assert instances and all(set(i) == set(specs) for i in instances), "named inputs differ"
    decoded = {}
    for name, spec in specs.items():
        decoded[name] = tf.constant([_json_value(i[name], spec.dtype) for i in instances],
                                    dtype=spec.dtype)
    return decoded


def _json_value(value: object, dtype: tf.DType) -> object:
    """One JSON value converted the way TF Serving's JSON-to-tensor code accepts it."""
    if isinstance(value, dict):
        assert set(value) == {"b64"} and dtype == tf.string, "b64 only for string inputs"
        return base64.b64decode(value["b64"], validate=True)
    if dtype == tf.string:
        assert isinstance(value, str)
        return value.encode()
    if dtype.is_integer:
        assert isinstance(value, int) and not isinstance(value, bool)
    else:
        assert isinstance(value, int | float) and not isinstance(value, bool)
    return value


def test_rest_bodies_decode_to_the_direct_call_probabilities(
    model, input_types, complete_rows_csv
):
    rows = client.read_rows(complete_rows_csv, input_types)
    assert len(rows) == ROWS
    direct_raw = _probabilities(model, RAW, {
        k: tf.constant([row[k] for row in rows],
                       dtype=model.signatures[RAW].structured_input_signature[1][k].dtype)
        for k in features.raw_feature_keys()
    })
    examples = [client.example_bytes(row, input_types) for row in rows]
    direct_default = _probabilities(model, DEFAULT, {"examples": tf.constant(examples)})
    np.testing.assert_allclose(direct_default, direct_raw, atol=1e-6)
    for signature, direct in ((DEFAULT, direct_default), (RAW, direct_raw)):
        sent = json.dumps(client.rest_body(signature, rows, input_types))
        body = json.loads(sent)
        assert body["signature_name"] == signature
        served = _probabilities(model, signature,
                                decode_rest_instances(body, model.signatures[signature]))
        np.testing.assert_allclose(served, direct, atol=1e-6)
        answer = {"predictions": served.reshape(-1, 1).tolist()}  # row-format answer
        np.testing.assert_allclose(
            [row["probabilities"][0] for row in client.rest_predictions(answer, ["probabilities"])],
            direct, atol=1e-6)


def test_grpc_requests_give_the_direct_call_probabilities(model, input_types, complete_rows_csv):
    rows = client.read_rows(complete_rows_csv, input_types)
    results = []
    for signature in (DEFAULT, RAW):
        request = client.grpc_request(signature, rows, input_types)
        assert request.model_spec.signature_name == signature
        inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        results.append(_probabilities(model, signature, inputs))
    np.testing.assert_allclose(results[0], results[1], atol=1e-6)


# --- serving-config and rollback on the run's metadata -----------------------------------------


def _config_flags(config) -> list[str]:
    return ["--project", config.project, "--metadata", str(config.metadata_path),
            "--serving-dir", str(config.serving_dir), "--model-name", config.model_name]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_serving_config_and_rollback_from_metadata(shared_run, shared_config, tmp_path, capsys):
    flags = _config_flags(shared_config) + ["--output-dir", str(tmp_path)]
    assert main(["serving-config", *flags, "--server-model-dir", "/models"]) == 0
    text = (tmp_path / server_config.MODELS_CONFIG).read_text()
    config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    (entry,) = config.model_config_list.config
    assert entry.base_path == f"/models/{shared_config.model_name}"
    assert list(entry.model_version_policy.specific.versions) == [1]
    assert dict(entry.version_labels) == {"stable": 1}
    before = _snapshot(tmp_path)
    capsys.readouterr()
    assert main(["rollback", *flags, "--to", "5", "--reason", "drill"]) == 1
    assert "rollback version 5 is not a pushed, blessed version" in capsys.readouterr().err
    assert _snapshot(tmp_path) == before
    assert main(["rollback", *flags, "--to", "1", "--reason", "drill"]) == 0
    (record,) = server_config.audit_records(tmp_path)
    assert (record["action"], record["from"], record["to"], record["reason"]) == (
        "rollback", 1, 1, "drill")
    assert main(["serving-config", *flags, "--canary", "1"]) == 1
