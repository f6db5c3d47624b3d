"""Every reader opens ML Metadata through connection.open_metadata, honouring the configured backend."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from pipeline.__main__ import main
from pipeline.analysis import reports
from pipeline.config import MetadataBackend, PipelineConfig
from pipeline.metadata import connection

# Commands that read the store, each with the arguments it needs to get as far as opening it.
READERS = {
    "versions": ["versions"],
    "monitor": ["monitor", "requests.csv"],
    "serving-config": ["serving-config"],
    "reproduce": ["reproduce", "latest"],
    "runs": ["runs"],
}


# A monitor that could not look exits 2 (1 means "alert"); every other reader exits 1.
EXIT_CODES = {"monitor": 2}


def _server_env(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    for name, value in {"BACKEND": "mysql", "HOST": "127.0.0.1", "PORT": str(port),
                        "USER": "reader", "DATABASE": "mlmd_shared"}.items():
        monkeypatch.setenv(f"PIPELINE_METADATA_{name}", value)
    monkeypatch.setenv("PIPELINE_PIPELINE_NAME", "shared")


def _closed_port() -> int:
    """A local port nothing listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("command", READERS)
def test_readers_open_the_server_the_environment_names(
    command: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys
) -> None:
    opened: list[PipelineConfig] = []

    def fake_open(config: PipelineConfig, read_only: bool = True) -> connection.Store:
        opened.append(config)
        raise connection.LineageError(f"stub store at {config.metadata_location}")

    _server_env(monkeypatch, 3307)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(connection, "open_metadata", fake_open)
    code = main(READERS[command])
    [config] = opened
    assert (config.metadata_backend, config.metadata_host, config.metadata_server_port) == (
        MetadataBackend.MYSQL, "127.0.0.1", 3307)
    assert (config.metadata_database, config.metadata_user, config.pipeline_name) == (
        "mlmd_shared", "reader", "shared")
    assert code == EXIT_CODES.get(command, 1)
    assert "stub store at mysql://reader@127.0.0.1:3307/mlmd_shared" in capsys.readouterr().err


@pytest.mark.parametrize("command", READERS)
def test_an_unreachable_server_is_named_within_seconds(
    command: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys
) -> None:
    port = _closed_port()
    _server_env(monkeypatch, port)
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    code = main(READERS[command])
    assert time.monotonic() - started < 20
    assert code == EXIT_CODES.get(command, 1)
    err = capsys.readouterr().err
    assert f"cannot open ML Metadata at mysql://reader@127.0.0.1:{port}/mlmd_shared" in err


def test_notebooks_open_the_server_the_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    port = _closed_port()
    environ = {"PIPELINE_METADATA_BACKEND": "postgresql", "PIPELINE_METADATA_PORT": str(port),
               "PIPELINE_METADATA_USER": "reader"}
    with pytest.raises(connection.LineageError, match=f"postgresql://reader@127.0.0.1:{port}/"):
        reports.open_from_env(environ)


def test_a_reader_never_creates_a_sqlite_store(tmp_path: Path) -> None:
    missing = tmp_path / "nothing" / "metadata.sqlite"
    config = PipelineConfig(metadata_path=missing)
    with pytest.raises(connection.LineageError, match=f"no metadata store at {missing}"):
        connection.open_metadata(config)
    assert not missing.parent.exists()
    connection.open_metadata(config, read_only=False)
    assert missing.is_file()
    assert connection.open_metadata(config).get_artifacts() == []


@pytest.mark.slow
def test_metadata_modules_form_no_cycle_and_load_no_tensorflow() -> None:
    """Each module imports alone in a fresh interpreter; TFMA is imported only inside functions."""
    import subprocess
    import sys

    modules = sorted(f"pipeline.metadata.{p.stem}" for p in Path(connection.__file__).parent.glob(
        "*.py") if p.stem != "__init__")
    heavy = ("tensorflow", "tensorflow_model_analysis", "tensorflow_data_validation", "tfx")
    for module in modules:
        probe = (f"import sys, {module}; "
                 f"print(sorted(n for n in {heavy!r} if n in sys.modules))")
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              cwd=Path(connection.__file__).parents[2], timeout=120)
        assert done.returncode == 0, f"{module}: {done.stderr[-2000:]}"
        assert done.stdout.strip() == "[]", f"{module} imports {done.stdout.strip()}"
