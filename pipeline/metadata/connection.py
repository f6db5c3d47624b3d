"""Opening ML Metadata: one connection for a config, whichever backend it names."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from pipeline.config import MetadataBackend, PipelineConfig, config_from_values, env_values
from pipeline.errors import NotFound

Store = metadata_store.MetadataStore


Artifact = metadata_store_pb2.Artifact


Execution = metadata_store_pb2.Execution


class LineageError(NotFound):
    """What was asked for is not in the metadata store; the message says what."""


def open_store(connection_config: metadata_store_pb2.ConnectionConfig) -> Store:
    """A store handle; MLMD creates nothing we did not ask for when read-only use follows."""
    return Store(connection_config)


def sqlite_connection(path: str, must_exist: bool = True) -> metadata_store_pb2.ConnectionConfig:
    """Connection config for a SQLite store, refusing to create one when only reading."""
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = path
    config.sqlite.connection_mode = (
        metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
        if must_exist
        else metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    )
    return config


def server_connection(
    config: PipelineConfig, must_exist: bool = True
) -> metadata_store_pb2.ConnectionConfig:
    """Connection config for the configured mysql (MariaDB too) or postgresql store.

    Readers pass must_exist=True, so a mistyped database name is an error, not a new empty store.
    """
    connection = metadata_store_pb2.ConnectionConfig()
    common = {"host": config.metadata_host, "user": config.metadata_user,
              "password": config.metadata_password, "skip_db_creation": must_exist}
    port, database = config.metadata_server_port, config.metadata_database
    if config.metadata_backend is MetadataBackend.MYSQL:
        connection.mysql.CopyFrom(
            metadata_store_pb2.MySQLDatabaseConfig(port=port, database=database, **common))
    elif config.metadata_backend is MetadataBackend.POSTGRESQL:
        connection.postgresql.CopyFrom(
            metadata_store_pb2.PostgreSQLDatabaseConfig(port=str(port), dbname=database, **common))
    else:
        raise ValueError(f"{config.metadata_backend.value} is not a metadata server")
    return connection


def store_settings(
    environ: Mapping[str, str], metadata_path: Path | None = None, pipeline_name: str | None = None
) -> tuple[Path, str]:
    """Store path and pipeline name: arguments, then PIPELINE_* env vars, then config defaults."""
    values = env_values(environ)
    defaults = {f.name: f.default for f in dataclasses.fields(PipelineConfig)}
    path = metadata_path or Path(values.get("metadata_path", defaults["metadata_path"]))
    return path, pipeline_name or values.get("pipeline_name", defaults["pipeline_name"])


def open_existing(path: Path) -> Store:
    """A read-only handle on a SQLite store that must already exist (none is ever created)."""
    if not Path(path).is_file():
        raise LineageError(
            f"no metadata store at {path}: run the pipeline first (python -m pipeline run) "
            "or point --metadata / PIPELINE_METADATA_PATH at an existing store")
    try:
        return open_store(sqlite_connection(str(path), must_exist=True))
    except RuntimeError as error:
        raise LineageError(f"{path} is not a readable ML Metadata store: {error}") from error


def open_for_reading(environ: Mapping[str, str], path: Path) -> Store:
    """The server PIPELINE_METADATA_BACKEND (and _HOST, _USER, ...) selects, else the SQLite file."""
    settings = {k: v for k, v in env_values(environ).items() if k.startswith("metadata_")}
    config = config_from_values(settings)
    if config.metadata_backend is MetadataBackend.SQLITE:
        return open_existing(path)
    try:
        return open_store(server_connection(config, must_exist=True))
    except RuntimeError as error:
        raise LineageError(f"cannot read ML Metadata at {config.metadata_location}: {error}") from error


def metadata_connection(config: PipelineConfig, read_only: bool = False):
    """The MLMD store the config selects: a SQLite file or a server; readers never create one."""
    from pipeline.metadata import connection

    if config.metadata_backend is MetadataBackend.SQLITE:
        if not read_only:
            config.metadata_path.parent.mkdir(parents=True, exist_ok=True)
        return connection.sqlite_connection(str(config.metadata_path), must_exist=read_only)
    return connection.server_connection(config, must_exist=read_only)
