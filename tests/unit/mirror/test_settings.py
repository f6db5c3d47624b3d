"""Where the mirror writes, how a bad tracking URI is refused, and that an unreachable server
costs a run one warning line and at most the connect timeout."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from pipeline.__main__ import main
from pipeline.config import STATE_DIR, ConfigError
from pipeline.metadata import records
from pipeline.mirror import hooks, run_view
from pipeline.mirror.settings import CONNECT_TIMEOUT_S, MirrorError, check_reachable, mirror_settings
from tests.support.configs import small_config
from tests.support.mlmd_fake import FakePipeline


def closed_port() -> int:
    """A port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_default_store_is_under_state_for_the_default_metadata() -> None:
    config = small_config(Path("/unused")).replace(metadata_path=STATE_DIR / "metadata" / "taxi.sqlite")
    settings = mirror_settings(config)
    assert settings is not None and settings.database == STATE_DIR / "mlflow" / "mlflow.db"
    assert settings.tracking_uri == f"sqlite:///{STATE_DIR / 'mlflow' / 'mlflow.db'}"


def test_a_store_kept_elsewhere_gets_its_mirror_beside_it(tmp_path: Path) -> None:
    settings = mirror_settings(small_config(tmp_path))
    assert settings is not None and settings.local_dir == tmp_path / "mlflow"
    assert settings.artifact_root == (tmp_path / "mlflow" / "artifacts").as_uri()


def test_off_and_explicit_uris(tmp_path: Path) -> None:
    assert mirror_settings(small_config(tmp_path, tracking_uri="off")) is None
    remote = mirror_settings(small_config(tmp_path, tracking_uri="http://mlflow:5000"))
    assert remote is not None and remote.local_dir is None and remote.artifact_root is None


@pytest.mark.parametrize(("uri", "root"), [
    ("sqlite:////srv/mlflow/runs.db", Path("/srv/mlflow/artifacts")),
    ("sqlite:///runs.db", Path.cwd() / "artifacts"),
    ("postgresql://mlflow@db/mlflow", STATE_DIR / "mlflow" / "artifacts"),
])
def test_a_given_database_store_keeps_artifacts_beside_it_not_in_the_working_folder(
    tmp_path: Path, uri: str, root: Path
) -> None:
    """MLflow's own default would be ./mlruns under whichever folder the command ran in."""
    settings = mirror_settings(small_config(tmp_path, tracking_uri=uri))
    assert settings is not None and settings.artifact_root == root.as_uri()


@pytest.mark.parametrize("value", ["mlflow.db", "localhost:5000", "OFF"])
def test_a_tracking_uri_that_is_no_uri_is_refused_naming_the_field(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="invalid config tracking_uri"):
        small_config(tmp_path, tracking_uri=value)


def test_the_cli_refuses_a_bad_tracking_uri_with_exit_code_2(tmp_path: Path, capsys) -> None:
    assert main(["mlflow-sync", "--metadata", str(tmp_path / "m.sqlite"), "--tracking-uri", "x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: invalid config tracking_uri")


def test_an_unreachable_server_fails_fast(tmp_path: Path) -> None:
    settings = mirror_settings(small_config(tmp_path, tracking_uri=f"http://127.0.0.1:{closed_port()}"))
    assert settings is not None
    started = time.monotonic()
    with pytest.raises(MirrorError, match="not reachable"):
        check_reachable(settings)
    assert time.monotonic() - started < CONNECT_TIMEOUT_S


def test_a_run_with_an_unreachable_store_gets_one_warning(tmp_path: Path, capsys) -> None:
    config = small_config(tmp_path, tracking_uri=f"http://127.0.0.1:{closed_port()}")
    FakePipeline(config.metadata_path).execute("run-1", "CsvExampleGen")
    started = time.monotonic()
    assert hooks.sync_after_run(config) is None
    assert time.monotonic() - started < CONNECT_TIMEOUT_S + 1
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("warning: MLflow mirror not updated after the run")


def test_a_run_stopped_at_the_data_gate_says_so(tmp_path: Path) -> None:
    fake = FakePipeline(tmp_path / "m.sqlite")
    fake.execute("run-1", "CsvExampleGen")
    fake.execute("run-1", "DataGate", state="FAILED", __execution_result__=(
        '{"code": 1, "resultMessage": "train: feature \'payment_type\': Unexpected string values"}'))
    components = records.component_runs(fake.store, "run-1")
    reason = run_view.failure_reason(components)
    assert reason == "stopped at the data gate: train: feature 'payment_type': Unexpected string values"


@pytest.mark.parametrize(("name", "expected"), [
    ("slice/payment_type/Credit Card/auc", "slice/payment_type/Credit Card/auc"),
    ("slice/company/A&B=1/auc", "slice/company/A_B_1/auc"),
])
def test_metric_names_are_ones_mlflow_accepts(name: str, expected: str) -> None:
    assert run_view.metric_name(name) == expected


def test_a_data_gate_stop_without_a_recorded_message_names_the_anomalies(tmp_path: Path) -> None:
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    found = anomalies_pb2.Anomalies()
    found.anomaly_info["payment_type"].reason.add(description="Unexpected string values")
    (tmp_path / "anomalies" / "Split-train").mkdir(parents=True)
    (tmp_path / "anomalies" / "Split-train" / "SchemaDiff.pb").write_bytes(found.SerializeToString())
    fake = FakePipeline(tmp_path / "m.sqlite")
    fake.execute("run-1", "ExampleValidator", outputs={
        "anomalies": fake.artifact("ExampleAnomalies", str(tmp_path / "anomalies"))})
    fake.execute("run-1", "DataGate", state="FAILED")
    reason = run_view.failure_reason(records.component_runs(fake.store, "run-1"))
    assert reason == "stopped at the data gate: train: feature 'payment_type': Unexpected string values"
