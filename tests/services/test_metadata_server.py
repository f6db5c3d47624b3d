"""ML Metadata on a real MariaDB server: the run is recorded there and its lineage reads back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.__main__ import main
from pipeline.config import MetadataBackend, PipelineConfig
from pipeline.graph.pipeline_graph import create_components
from pipeline.metadata import connection, records
from pipeline.run import manifest
from pipeline.run.local_runner import LocalRunResult, report, run_pipeline
from tests.support.configs import small_config
from tests.support.mariadb import MariaDB, running_mariadb
from tests.support.secrets import leaks, leaks_in_files

pytestmark = pytest.mark.service
# A hostile password (quotes, backslash, non-ASCII, format and shell characters): the server
# accepts it through MLMD, and no file the run writes holds it in any escaping.
DATABASE, USER, PASSWORD = "mlmd", "tfx", "Qx7core12'\"\\ é€ %s{0} $HOME"
SQL_PASSWORD = PASSWORD.replace("\\", "\\\\").replace("'", "\\'")


@pytest.fixture(scope="module")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    """A fresh server with one database and a user that may create databases named mlmd*."""
    with running_mariadb(tmp_path_factory.mktemp("mariadb")) as server:
        server.sql(
            f"CREATE DATABASE {DATABASE}; "
            f"CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{SQL_PASSWORD}'; "
            f"GRANT ALL ON `{DATABASE}%`.* TO '{USER}'@'127.0.0.1';"
        )
        yield server


@pytest.fixture(scope="module")
def server_run(
    mariadb: MariaDB, tmp_path_factory: pytest.TempPathFactory
) -> tuple[PipelineConfig, LocalRunResult]:
    """The whole pipeline on the sample, with its metadata in the server."""
    config = small_config(
        tmp_path_factory.mktemp("server_run"),
        schema_path=None,
        metadata_backend=MetadataBackend.MYSQL,
        metadata_host="127.0.0.1",
        metadata_port=mariadb.port,
        metadata_database=DATABASE,
        metadata_user=USER,
        metadata_password=PASSWORD,
    )
    return config, run_pipeline(config)


def test_every_component_is_recorded_complete_in_the_server(server_run: tuple) -> None:
    config, result = server_run
    store = connection.open_metadata(config)
    run_id = records.latest_run_id(store, config.pipeline_name)
    assert run_id == result.summary.run_id
    runs = records.component_runs(store, run_id)
    components = create_components(config, manifest.compute(config))
    assert sorted(r.node_id for r in runs) == sorted(c.id for c in components)
    assert {r.state for r in runs} == {"COMPLETE"}
    outputs = [a for r in runs for artifacts in r.outputs.values() for a in artifacts]
    assert outputs and all(Path(a.uri).exists() for a in outputs)
    model = {r.node_id: r for r in runs}["Trainer"].outputs["model"][0]
    assert Path(model.uri).is_relative_to(config.pipeline_root)


def test_records_are_rows_of_the_server_not_a_local_file(
    mariadb: MariaDB, server_run: tuple
) -> None:
    config, _ = server_run
    store = connection.open_metadata(config)
    rows = int(mariadb.sql(f"SELECT COUNT(*) FROM {DATABASE}.Execution"))
    assert rows == len(store.get_executions()) > 0
    assert not config.metadata_path.exists()


def test_report_names_the_server_and_nothing_shows_the_password(server_run: tuple) -> None:
    config, result = server_run
    text = report(result, config)
    assert f"mysql://{USER}@127.0.0.1:{config.metadata_port}/{DATABASE}" in text
    assert leaks(text, PASSWORD) == []
    assert leaks_in_files(PASSWORD, config.pipeline_root.parent) == {}, "logs, artifacts, lock"
    assert 'password: "****"' in result.log_path.read_text(), "TFX logged its config, masked"


def test_a_reader_never_creates_a_missing_database(mariadb: MariaDB, server_run: tuple) -> None:
    config, _ = server_run
    missing = config.replace(metadata_database=f"{DATABASE}_missing")
    with pytest.raises(connection.LineageError, match=f"{DATABASE}_missing"):
        connection.open_metadata(missing)
    assert f"{DATABASE}_missing" not in mariadb.sql("SHOW DATABASES").split()


def test_the_runs_command_reads_the_server_from_the_environment(
    server_run: tuple, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    config, result = server_run
    for name, value in {
        "BACKEND": "mysql", "HOST": "127.0.0.1", "PORT": str(config.metadata_port),
        "DATABASE": DATABASE, "USER": USER, "PASSWORD": PASSWORD,
    }.items():
        monkeypatch.setenv(f"PIPELINE_METADATA_{name}", value)
    assert main(["runs", "--json", "--pipeline-name", config.pipeline_name]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [run["run_id"] for run in runs] == [result.summary.run_id]
    assert runs[0]["status"] == "COMPLETE"
