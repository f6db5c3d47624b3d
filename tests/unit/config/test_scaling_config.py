"""Scaling config: URIs for data and artifacts, Beam runners and their options, metadata servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import (
    BeamRunner,
    ConfigError,
    MetadataBackend,
    config_from_values,
)
from pipeline.metadata.connection import metadata_connection
from tests.support.configs import SAMPLE_DATA, parse_run_args

DATAFLOW_ARGS = "--project=demo --region=europe-west1 --temp_location=gs://demo-bucket/tmp"
# Independent of the curated schema and the bundled data set, so only the scaling fields vary.
BASE = {"data_dir": str(SAMPLE_DATA), "schema_path": "infer"}
FLAGS = ["--data", str(SAMPLE_DATA), "--schema", "infer"]
SERVER = [*FLAGS, "--metadata-backend", "mysql", "--metadata-host", "db.internal",
          "--metadata-database", "mlmd", "--metadata-user", "tfx"]


def test_uris_are_kept_verbatim_and_not_checked_locally() -> None:
    config = config_from_values(
        {**BASE, "data_dir": "gs://demo-bucket/data", "pipeline_root": "s3://demo-bucket/root"}
    )
    assert config.data_dir == "gs://demo-bucket/data"
    assert config.pipeline_root == "s3://demo-bucket/root"


def test_uri_flags_survive_the_command_line() -> None:
    config = parse_run_args([*FLAGS, "--data", "gs://b/data", "--pipeline-root", "gs://b/root"], {})
    assert (config.data_dir, config.pipeline_root) == ("gs://b/data", "gs://b/root")


def test_missing_local_data_is_still_rejected() -> None:
    with pytest.raises(ConfigError, match="data_dir: /nonexistent/data"):
        config_from_values({**BASE, "data_dir": "/nonexistent/data"})


def test_direct_runner_args_are_unchanged_by_default() -> None:
    assert parse_run_args(FLAGS, {}).beam_args == [
        "--direct_running_mode=in_memory"
    ]


@pytest.mark.parametrize(
    ("runner", "extra", "expected"),
    [
        ("DataflowRunner", DATAFLOW_ARGS, ["--runner=DataflowRunner", *DATAFLOW_ARGS.split()]),
        ("FlinkRunner", "--flink_master=flink:8081 --environment_type=LOOPBACK",
         ["--runner=FlinkRunner", "--flink_master=flink:8081", "--environment_type=LOOPBACK"]),
        ("SparkRunner", "--spark_master_url=spark://spark:7077",
         ["--runner=SparkRunner", "--spark_master_url=spark://spark:7077"]),
        ("PortableRunner", "--job_endpoint=localhost:8099 --environment_type=DOCKER",
         ["--runner=PortableRunner", "--job_endpoint=localhost:8099", "--environment_type=DOCKER"]),
    ],
)
def test_runner_and_its_options_become_beam_args(runner: str, extra: str, expected: list) -> None:
    config = parse_run_args([*FLAGS, "--beam-runner", runner, f"--beam-args={extra}"], {})
    assert config.beam_runner is BeamRunner(runner)
    assert config.beam_args == expected


def test_beam_options_from_the_environment_are_split_like_a_shell() -> None:
    env = {"PIPELINE_BEAM_RUNNER": "DataflowRunner",
           "PIPELINE_EXTRA_BEAM_ARGS": DATAFLOW_ARGS + " --labels='team=ml'"}
    assert parse_run_args(FLAGS, env).beam_args[-1] == "--labels=team=ml"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"beam_runner": "DataflowRunner", "extra_beam_args": "--project=p"},
         "DataflowRunner needs --region, --temp_location"),
        ({"beam_runner": "PortableRunner"}, "PortableRunner needs --job_endpoint"),
        ({"extra_beam_args": "--runner=DataflowRunner"}, "set the runner with beam_runner"),
        ({"beam_runner": "FlinkRunner", "workers": "4"}, "beam_mode and workers configure"),
        ({"beam_runner": "Dataflow"}, "beam_runner: 'Dataflow'"),
        ({"extra_beam_args": "--labels='unclosed"}, "extra_beam_args"),
    ],
)
def test_bad_beam_settings_are_rejected_naming_what_is_wrong(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_values({**BASE, **values})


def test_metadata_server_connection_has_the_configured_fields() -> None:
    config = parse_run_args(SERVER, {"PIPELINE_METADATA_PASSWORD": "s3cret"})
    connection = metadata_connection(config)
    assert connection.WhichOneof("config") == "mysql"
    mysql = connection.mysql
    assert (mysql.host, mysql.port, mysql.database) == ("db.internal", 3306, "mlmd")
    assert (mysql.user, mysql.password, mysql.skip_db_creation) == ("tfx", "s3cret", False)
    assert metadata_connection(config, read_only=True).mysql.skip_db_creation
    assert config.metadata_location == "mysql://tfx@db.internal:3306/mlmd"


def test_postgresql_uses_its_own_default_port() -> None:
    config = parse_run_args([*SERVER, "--metadata-backend", "postgresql"], {})
    postgresql = metadata_connection(config).postgresql
    assert (postgresql.host, postgresql.port, postgresql.dbname) == ("db.internal", "5432", "mlmd")


def test_sqlite_stays_the_default(tmp_path: Path) -> None:
    config = config_from_values({**BASE, "metadata_path": tmp_path / "m" / "store.sqlite"})
    assert config.metadata_backend is MetadataBackend.SQLITE
    assert metadata_connection(config).sqlite.filename_uri == str(tmp_path / "m" / "store.sqlite")
    assert (tmp_path / "m").is_dir()


def test_password_is_neither_a_flag_nor_printed() -> None:
    with pytest.raises(SystemExit):
        parse_run_args([*SERVER, "--metadata-password", "s3cret"], {})
    config = parse_run_args(SERVER, {"PIPELINE_METADATA_PASSWORD": "s3cret"})
    assert config.metadata_password.reveal() == "s3cret"
    assert "s3cret" not in repr(config) and "s3cret" not in config.metadata_location


def test_metadata_server_needs_a_user() -> None:
    with pytest.raises(ConfigError, match="metadata_user"):
        config_from_values({**BASE, "metadata_backend": "mysql"})
