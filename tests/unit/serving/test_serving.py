"""Serving without a pipeline run: atomic push, config files, manifests, client requests/errors."""

from __future__ import annotations

import base64
import http.server
import json
import multiprocessing
import os
import shutil
import socket
import threading
from pathlib import Path

import kubernetes_validate
import numpy as np
import pytest
import yaml
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from pipeline.config import PROJECT_ROOT
from pipeline.serving import client, layout, server_config
from tests.support.serving_protos import message_class
from tools import taxi as features

DEPLOY = PROJECT_ROOT / "deploy"
K8S_VERSION = kubernetes_validate.latest_version()


# --- atomic push -------------------------------------------------------------------------------


def _fake_model(root: Path, files: int = 5) -> Path:
    """A folder shaped like a SavedModel (enough files for a copy to fail midway)."""
    model = root / "model"
    (model / "variables").mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(b"graph")
    for index in range(files):
        (model / "variables" / f"part-{index}").write_bytes(os.urandom(1024))
    return model


def _visible_to_tf_serving(base_path: Path) -> list[str]:
    """Entries TF Serving would consider as versions: integer-named folders."""
    return [child.name for child in base_path.iterdir() if child.name.isdigit()]


def test_copy_failing_midway_leaves_no_version_and_no_staging(tmp_path, monkeypatch):
    model, base = _fake_model(tmp_path), tmp_path / "serving" / "taxi"
    copied = []
    real_copytree, real_copy2 = shutil.copytree, shutil.copy2

    def copy_then_fail(src, dst, **kwargs):
        if len(copied) == 3:
            raise OSError(28, "No space left on device")
        copied.append(dst)
        return real_copy2(src, dst, **kwargs)

    def copytree_failing_midway(src, dst, *args, **kwargs):
        return real_copytree(src, dst, copy_function=copy_then_fail, dirs_exist_ok=True)

    monkeypatch.setattr(layout.shutil, "copytree", copytree_failing_midway)
    with pytest.raises(OSError, match="No space left"):
        layout.publish(model, base, {"fingerprint": "x"})
    assert len(copied) == 3, "the copy must have started before failing"
    assert list(base.iterdir()) == []
    assert layout.list_versions(base) == []


def test_failing_extras_leave_no_version(tmp_path):
    model, base = _fake_model(tmp_path), tmp_path / "serving" / "taxi"

    def broken_warmup(extra_dir: Path) -> None:
        (extra_dir / "tf_serving_warmup_requests").write_bytes(b"partial")
        raise RuntimeError("warmup failed")

    with pytest.raises(RuntimeError, match="warmup failed"):
        layout.publish(model, base, {}, broken_warmup)
    assert list(base.iterdir()) == []


def _publish_then_die(model: str, base: str) -> None:
    """Child process: killed (SIGKILL) after the copy, before the rename."""
    def die(extra_dir: Path) -> None:
        os.kill(os.getpid(), 9)

    layout.publish(Path(model), Path(base), {}, die)


def test_process_killed_before_rename_leaves_only_a_hidden_staging_folder(tmp_path):
    model, base = _fake_model(tmp_path), tmp_path / "serving" / "taxi"
    child = multiprocessing.get_context("fork").Process(
        target=_publish_then_die, args=(str(model), str(base))
    )
    child.start()
    child.join(60)
    assert child.exitcode == -9
    leftovers = list(base.iterdir())
    assert len(leftovers) == 1 and leftovers[0].name.startswith(layout.STAGING_PREFIX)
    assert (leftovers[0] / "saved_model.pb").is_file(), "the kill came after the copy"
    assert _visible_to_tf_serving(base) == [] and layout.list_versions(base) == []
    # The next push clears the dead process's leftover and still takes version 1.
    version, target = layout.publish(model, base, {"fingerprint": "y"})
    assert version == 1 and sorted(p.name for p in base.iterdir()) == ["1"]
    assert layout.read_push_record(target) == {"fingerprint": "y"}


# --- config files ------------------------------------------------------------------------------


def _plan(**kwargs) -> server_config.ServingPlan:
    return server_config.plan_config("taxi", "/models/taxi", [1, 2, 3, 4], **kwargs)


def test_plan_labels_newest_stable_and_keeps_recent_versions():
    plan = _plan(canary=2, keep=2)
    assert plan.labels == {"stable": 4, "canary": 2}
    assert plan.versions == (2, 3, 4)


@pytest.mark.parametrize("kwargs, message", [
    ({"canary": 9}, "canary version 9 is not a pushed"),
    ({"canary": 4}, "already the stable version"),
    ({"stable": 0}, "stable version 0 is not a pushed"),
])
def test_plan_rejects_unknown_or_clashing_versions(kwargs, message):
    with pytest.raises(server_config.ServingConfigError, match=message):
        _plan(**kwargs)


def test_models_config_parses_with_tf_serving_proto():
    text = server_config.models_config_text(_plan(canary=3))
    config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    (model,) = config.model_config_list.config
    assert (model.name, model.base_path, model.model_platform) == (
        "taxi", "/models/taxi", "tensorflow")
    assert list(model.model_version_policy.specific.versions) == [2, 3, 4]
    assert dict(model.version_labels) == {"stable": 4, "canary": 3}


def test_batching_and_monitoring_files_parse_with_tf_serving_messages():
    settings = server_config.BatchingSettings()
    batching = text_format.Parse(
        server_config.batching_text(settings),
        message_class("tensorflow.serving.BatchingParameters")(),
    )
    assert batching.max_batch_size.value == settings.max_batch_size
    assert batching.num_batch_threads.value == settings.num_batch_threads
    assert list(batching.allowed_batch_sizes)[-1] == batching.max_batch_size.value
    monitoring = text_format.Parse(
        server_config.monitoring_text(), message_class("tensorflow.serving.MonitoringConfig")()
    )
    assert monitoring.prometheus_config.enable
    assert monitoring.prometheus_config.path == server_config.PROMETHEUS_PATH


def test_rollback_plan_moves_stable_and_refuses_unknown_versions():
    current = _plan(canary=3, keep=1)
    moved = server_config.rollback_plan(current, 3, [1, 2, 3, 4])
    assert moved.labels == {"stable": 3} and moved.versions == (3, 4)
    older = server_config.rollback_plan(current, 1, [1, 2, 3, 4])
    assert older.labels == {"stable": 1, "canary": 3} and older.versions == (1, 3, 4)
    with pytest.raises(server_config.ServingConfigError, match="rollback version 7"):
        server_config.rollback_plan(current, 7, [1, 2, 3, 4])


def test_rollback_pin_holds_until_released(tmp_path):
    assert server_config.pinned_version(tmp_path, [1, 2]) is None
    server_config.append_audit(tmp_path, {"action": "rollback", "from": 2, "to": 1})
    assert server_config.pinned_version(tmp_path, [1, 2, 3]) == 1
    server_config.append_audit(tmp_path, {"action": "release", "from": 1, "to": 3})
    assert server_config.pinned_version(tmp_path, [1, 2, 3]) is None
    assert [r["action"] for r in server_config.audit_records(tmp_path)] == ["rollback", "release"]


# --- deployment files --------------------------------------------------------------------------


def _manifests() -> list[dict]:
    return [yaml.safe_load(p.read_text()) for p in sorted((DEPLOY / "k8s").glob("*.yaml"))]


def test_kubernetes_manifests_validate_against_the_schemas(tmp_path):
    written = server_config.write_config_files(
        _plan(), tmp_path, server_config.BatchingSettings()
    )
    configmap = yaml.safe_load((tmp_path / server_config.CONFIGMAP).read_text())
    documents = _manifests() + [configmap]
    assert {d["kind"] for d in documents} == {
        "Deployment", "Service", "PersistentVolumeClaim", "ConfigMap", "NetworkPolicy"}
    for document in documents:
        kubernetes_validate.validate(document, K8S_VERSION, strict=True)
    assert sorted(configmap["data"]) == sorted(p.name for p in written if p.suffix == ".config")


def test_kubernetes_manifests_reject_a_misspelled_field():
    deployment = next(d for d in _manifests() if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_deployment_wires_configmap_files_and_model_status_probe(tmp_path):
    server_config.write_config_files(_plan(), tmp_path, server_config.BatchingSettings())
    configmap = yaml.safe_load((tmp_path / server_config.CONFIGMAP).read_text())
    deployment = next(d for d in _manifests() if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert volumes["config"]["configMap"]["name"] == configmap["metadata"]["name"]
    file_flags = {a.split("=")[0]: a.split("=")[1] for a in container["args"] if "/" in a}
    for flag in ("--model_config_file", "--monitoring_config_file", "--batching_parameters_file"):
        folder, name = file_flags[flag].rsplit("/", 1)
        assert folder == mounts["config"] and name in configmap["data"], flag
    assert "--enable_batching=true" in container["args"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v1/models/taxi"
    assert mounts["tmp"] == "/tmp"
    assert {p["containerPort"] for p in container["ports"]} == {8500, 8501}
    assert mounts["models"] == "/models"


def test_compose_runs_tf_serving_with_the_written_files():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    service = compose["services"]["tf-serving"]
    assert service["image"].startswith("tensorflow/serving:")
    assert {"127.0.0.1:8500:8500", "127.0.0.1:8501:8501"} <= set(service["ports"])
    targets = {v.rsplit(":", 2)[1] for v in service["volumes"]}
    assert targets == {"/models", "/config"}
    flags = dict(a.split("=", 1) for a in service["command"])
    assert flags["--model_config_file"] == f"/config/{server_config.MODELS_CONFIG}"
    assert flags["--monitoring_config_file"] == f"/config/{server_config.MONITORING_CONFIG}"
    assert flags["--batching_parameters_file"] == f"/config/{server_config.BATCHING_CONFIG}"
    assert flags["--enable_batching"] == "true"


# --- client: reading rows and building requests ------------------------------------------------

TYPES = {
    **{k: "DT_FLOAT" for k in features.DENSE_FLOAT_FEATURE_KEYS + features.BUCKET_FEATURE_KEYS},
    **{k: "DT_INT64" for k in features.CATEGORICAL_FEATURE_MAX_VALUES},
    **{k: "DT_STRING" for k in features.VOCAB_FEATURE_KEYS},
}


def _csv(path: Path, rows: list[dict[str, str]]) -> Path:
    columns = list(rows[0])
    lines = [",".join(columns)] + [",".join(row[c] for c in columns) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _row(**changes: str) -> dict[str, str]:
    row = {k: "1" for k in features.raw_feature_keys()}
    row.update({"payment_type": "Cash", "company": "", "fare": "7.25", "tips": "0"})
    row.update(changes)
    return row


def test_rest_body_for_serving_default_is_b64_examples(tmp_path):
    from tensorflow.core.example import example_pb2

    rows = client.read_rows(_csv(tmp_path / "in.csv", [_row(), _row()]), TYPES)
    body = client.rest_body("serving_default", rows, TYPES)
    assert body["signature_name"] == "serving_default" and len(body["instances"]) == 2
    example = example_pb2.Example.FromString(
        base64.b64decode(body["instances"][0]["examples"]["b64"])
    )
    feature = example.features.feature
    assert feature["fare"].float_list.value == [7.25]
    assert feature["trip_start_hour"].int64_list.value == [1]
    assert feature["payment_type"].bytes_list.value == [b"Cash"]
    assert "company" not in feature and "tips" not in feature


def test_rest_body_for_raw_signature_needs_every_feature(tmp_path):
    rows = client.read_rows(_csv(tmp_path / "in.csv", [_row(company="Flash")]), TYPES)
    body = client.rest_body("serving_raw", rows, TYPES)
    assert body["instances"] == [{**{k: rows[0][k] for k in features.raw_feature_keys()}}]
    assert body["instances"][0]["trip_start_hour"] == 1
    empty = client.read_rows(_csv(tmp_path / "e.csv", [_row()]), TYPES)
    with pytest.raises(client.ClientError, match="line 2: empty company"):
        client.rest_body("serving_raw", empty, TYPES)


@pytest.mark.parametrize("row, message", [
    ({"fare": "seven"}, "line 2, column 'fare'"),
    ({"trip_start_hour": "1.5"}, "line 2, column 'trip_start_hour': '1.5' is not an integer"),
])
def test_bad_cells_name_file_line_and_column(tmp_path, row, message):
    path = _csv(tmp_path / "bad.csv", [_row(**row)])
    with pytest.raises(client.ClientError, match=message):
        client.read_rows(path, TYPES)


def test_missing_column_is_named(tmp_path):
    row = _row()
    del row["trip_miles"]
    with pytest.raises(client.ClientError, match="missing column.*trip_miles"):
        client.read_rows(_csv(tmp_path / "in.csv", [row]), TYPES)


def test_model_url_and_answer_parsing():
    assert client.model_url("http://h:8501/", "taxi", 3, None) == (
        "http://h:8501/v1/models/taxi/versions/3")
    assert client.model_url("http://h:8501", "taxi", None, "stable") == (
        "http://h:8501/v1/models/taxi/labels/stable")
    assert client.rest_predictions({"predictions": [[0.25], [0.5]]}, ["probabilities"]) == [
        {"probabilities": [0.25]}, {"probabilities": [0.5]}]
    several = {"predictions": [{"probabilities": [0.1, 0.9], "classes": "b"}]}
    assert client.rest_predictions(several, ["classes", "probabilities"]) == [
        {"probabilities": [0.1, 0.9], "classes": "b"}]
    assert client.grpc_predictions({"prediction": np.array([[3.5], [4.0]])}) == [
        {"prediction": [3.5]}, {"prediction": [4.0]}]


# --- client: network failures (canned answers only, no predictions computed) -------------------


class _CannedServer(http.server.BaseHTTPRequestHandler):
    """Answers GET with `get_answer` and POST with `post_answer`: (status, JSON body)."""

    get_answer: tuple[int, dict] = (404, {"error": "Servable not found for request: Latest(x)"})
    post_answer: tuple[int, dict] = (400, {"error": "unused"})

    def do_GET(self):  # http.server interface
        self._answer(*self.get_answer)

    def do_POST(self):  # http.server interface
        self.rfile.read(int(self.headers["Content-Length"]))
        self._answer(*self.post_answer)

    def _answer(self, status: int, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        """Keep test output clean."""


@pytest.fixture
def canned_server():
    """Start a loopback server whose handler class the test configures; yields its URL."""
    servers = []

    def start(get_answer, post_answer=(400, {"error": "unused"})):
        handler = type("Handler", (_CannedServer,), {
            "get_answer": get_answer, "post_answer": post_answer})
        server = http.server.HTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _predict_cli(capsys, *argv: str) -> tuple[int, str]:
    from pipeline.__main__ import main

    code = main(["predict", *argv])
    return code, capsys.readouterr().err


def test_server_down_is_a_clear_error(tmp_path, capsys):
    path = _csv(tmp_path / "in.csv", [_row()])
    code, err = _predict_cli(capsys, "--server", f"http://127.0.0.1:{_closed_port()}",
                             "--model", "taxi", str(path))
    assert code == 1
    assert "cannot reach TF Serving" in err and "Connection refused" in err


def test_unknown_model_error_json_is_reported(tmp_path, capsys, canned_server):
    url = canned_server((404, {"error": "Servable not found for request: Latest(nope)"}))
    path = _csv(tmp_path / "in.csv", [_row()])
    code, err = _predict_cli(capsys, "--server", url, "--model", "nope", str(path))
    assert code == 1
    assert "HTTP 404" in err and "Servable not found for request: Latest(nope)" in err


def test_predict_error_after_metadata_is_reported(tmp_path, capsys, canned_server):
    inputs = {k: {"dtype": v, "tensor_shape": {"dim": [{"size": "-1"}]}} for k, v in TYPES.items()}
    metadata = {"metadata": {"signature_def": {"signature_def": {
        "serving_raw": {"inputs": inputs}}}}}
    error = {"error": "Name: <unknown>, Feature: fare (data type: float) is required"}
    url = canned_server((200, metadata), (400, error))
    path = _csv(tmp_path / "in.csv", [_row()])
    code, err = _predict_cli(capsys, "--server", url, "--label", "stable", str(path))
    assert code == 1
    assert "HTTP 400" in err and "labels/stable:predict" in err and "fare (data type" in err


def test_grpc_server_down_is_a_clear_error(tmp_path, capsys):
    path = _csv(tmp_path / "in.csv", [_row()])
    code, err = _predict_cli(capsys, "--grpc", f"127.0.0.1:{_closed_port()}",
                             "--timeout", "3", str(path))
    assert code == 1
    assert "answered UNAVAILABLE" in err


def _threshold_server(canned_server, version: str, probabilities: list[float]) -> str:
    """A canned TF Serving whose metadata names `version` and whose predictions are these."""
    inputs = {k: {"dtype": v, "tensor_shape": {"dim": [{"size": "-1"}]}} for k, v in TYPES.items()}
    metadata = {"model_spec": {"name": "taxi", "signature_name": "", "version": version},
                "metadata": {"signature_def": {"signature_def": {
                    "serving_raw": {"inputs": inputs},
                    "serving_default": {"outputs": {"probabilities": {"dtype": "DT_FLOAT"}}}}}}}
    return canned_server((200, metadata), (200, {"predictions": [[p] for p in probabilities]}))


def test_predict_server_calls_classes_at_the_answering_versions_threshold(
        tmp_path, capsys, canned_server):
    from pipeline.vocabulary import DECISION_THRESHOLD_FILE, DecisionThreshold

    url = _threshold_server(canned_server, "3", [0.3, 0.7, 0.2])
    path = _csv(tmp_path / "in.csv", [_row(), _row(), _row()])
    extra = tmp_path / "serving" / "taxi" / "3" / layout.ASSETS_EXTRA
    extra.mkdir(parents=True)
    (extra / DECISION_THRESHOLD_FILE).write_text(
        DecisionThreshold(0.25, "max_f1", None, 0.6, 0.8, 200).to_json())
    argv = ["predict", "--server", url, "--project", "taxi", "--serving-dir",
            str(tmp_path / "serving"), str(path)]
    from pipeline.__main__ import main

    assert main(argv) == 0
    captured = capsys.readouterr()
    table = [line.split("\t") for line in captured.out.splitlines()]
    assert table[0] == ["row", "classes", "probabilities"]
    assert [row[1] for row in table[1:]] == ["1", "1", "0"] and captured.err == ""

    (extra / DECISION_THRESHOLD_FILE).write_text("{not json")  # damaged: as if none were recorded
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert [line.split("\t")[1] for line in captured.out.splitlines()[1:]] == ["0", "1", "0"]
    assert captured.err.splitlines() == [
        "note: version 3 records no decision threshold (pushed before thresholds were recorded, "
        "or not found under the serving dir): class '1' from probability 0.5"]


def test_the_threshold_file_is_part_of_the_model_fingerprint(tmp_path):
    from pipeline.vocabulary import DECISION_THRESHOLD_FILE

    model = tmp_path / "model"
    (model / layout.ASSETS_EXTRA).mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(b"graph")
    bare = layout.model_fingerprint(model)
    (model / layout.ASSETS_EXTRA / "tf_serving_warmup_requests").write_bytes(b"warmup")
    assert layout.model_fingerprint(model) == bare
    (model / layout.ASSETS_EXTRA / DECISION_THRESHOLD_FILE).write_text('{"threshold": 0.3}')
    with_cut = layout.model_fingerprint(model)
    (model / layout.ASSETS_EXTRA / DECISION_THRESHOLD_FILE).write_text('{"threshold": 0.4}')
    assert len({bare, with_cut, layout.model_fingerprint(model)}) == 3
