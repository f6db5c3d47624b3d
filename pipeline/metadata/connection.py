"""Opening ML Metadata: the one place a store is opened for a config, whichever backend it names.

Readers (`runs`, `lineage`, `versions`, `monitor`, `reproduce`, `serving-config`, the notebooks)
call open_metadata(config); writers hand metadata_connection(config) to TFX, or open with
read_only=False to record what a run did. Both build the connection config the same way.
"""

from __future__ import annotations

import socket
import struct
import time
from typing import TypeAlias

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from pipeline.config import MetadataBackend, PipelineConfig
from pipeline.errors import NotFound

Store: TypeAlias = metadata_store.MetadataStore


Artifact: TypeAlias = metadata_store_pb2.Artifact


Execution: TypeAlias = metadata_store_pb2.Execution


ConnectionConfig: TypeAlias = metadata_store_pb2.ConnectionConfig


class LineageError(NotFound):
    """What was asked for is not in the metadata store (or there is no store); the message says
    what and where."""


class MetadataUnreachable(LineageError):
    """The metadata server did not answer in time: named by host:port before anything runs."""


# How long a server may take to accept a connection and say its first bytes. MLMD's own client
# waits far longer (and TFX then blames the first component); a healthy server answers in ms.
PROBE_SECONDS = 3.0
# PostgreSQL speaks only when spoken to: an SSLRequest gets one byte back ('S' or 'N').
_POSTGRES_SSL_REQUEST = struct.pack("!ii", 8, 80877103)


def _first_bytes(config: PipelineConfig, deadline: float) -> bytes:
    """Connect and read what the server says first (MySQL's greeting, PostgreSQL's SSL answer)."""
    address = (config.metadata_host, config.metadata_server_port)
    with socket.create_connection(address, timeout=max(deadline - time.monotonic(), 0.1)) as sock:
        if config.metadata_backend is MetadataBackend.POSTGRESQL:
            sock.sendall(_POSTGRES_SSL_REQUEST)
        sock.settimeout(max(deadline - time.monotonic(), 0.1))
        return sock.recv(1)


def probe_server(config: PipelineConfig, seconds: float = PROBE_SECONDS) -> None:
    """Fail within seconds, naming host:port, when the configured metadata server does not answer.

    A no-op for SQLite. A port nothing listens on, an address that drops packets and a socket
    that accepts but never speaks (a black hole) all raise MetadataUnreachable.
    """
    if config.metadata_backend is MetadataBackend.SQLITE:
        return
    where = f"{config.metadata_host}:{config.metadata_server_port}"
    try:
        answer = _first_bytes(config, time.monotonic() + seconds)
    except TimeoutError:
        problem = f"{where} did not answer within {seconds:.0f} s"
    except OSError as error:
        problem = f"{where} is unreachable ({error.strerror or error})"
    else:
        if answer:
            return
        problem = f"{where} closed the connection without answering"
    raise MetadataUnreachable(
        f"cannot open ML Metadata at {config.metadata_location}: {problem}; start the "
        f"{config.metadata_backend.value} server or fix --metadata-host / --metadata-port "
        "(PIPELINE_METADATA_HOST / PIPELINE_METADATA_PORT)")


def _sqlite_connection(path: str, read_only: bool) -> ConnectionConfig:
    """A SQLite store: read-only for readers (never created), created if missing for writers."""
    config = ConnectionConfig()
    config.sqlite.filename_uri = path
    config.sqlite.connection_mode = (
        metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
        if read_only
        else metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    )
    return config


def _server_connection(config: PipelineConfig, read_only: bool) -> ConnectionConfig:
    """A mysql (MariaDB too) or postgresql store.

    Readers skip database creation, so a mistyped database name is an error, not a new empty store.
    """
    connection = ConnectionConfig()
    common = {"host": config.metadata_host, "user": config.metadata_user,
              "password": config.metadata_password.reveal(), "skip_db_creation": read_only}
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


def metadata_connection(config: PipelineConfig, read_only: bool = False) -> ConnectionConfig:
    """The connection config of the store the config selects: a SQLite file or a server.

    Writers (the default; TFX runners receive this) may create the store, and the SQLite file's
    folder is made for them; readers (read_only=True) never create anything.
    """
    if config.metadata_backend is MetadataBackend.SQLITE:
        if not read_only:
            config.metadata_path.parent.mkdir(parents=True, exist_ok=True)
        return _sqlite_connection(str(config.metadata_path), read_only)
    return _server_connection(config, read_only)


# A store's identity: a UUID a run writes into the store itself (run/store_owner.py), as one
# context of a type of ours; ML Metadata has no id of its own.
STORE_CONTEXT_TYPE = "pipeline.MetadataStore"
STORE_CONTEXT_NAME = "identity"
STORE_ID_PROPERTY = "store_id"


def recorded_identity(store: Store) -> str | None:
    """The UUID the store holds, or None when no run claimed it yet."""
    from ml_metadata import errors

    try:
        contexts = store.get_contexts_by_type(STORE_CONTEXT_TYPE)
    except errors.NotFoundError:
        return None
    for context in contexts:
        if context.name == STORE_CONTEXT_NAME:
            return context.custom_properties[STORE_ID_PROPERTY].string_value or None
    return None


def store_identity(config: PipelineConfig, store: Store | None = None) -> str:
    """Which store this is, never holding a password: the UUID the store holds (a store deleted
    and recreated in place is another store), else the SQLite file's absolute path or the
    server's backend, host, port and database. Whatever mirrors a store's records (the MLflow
    mirror) keys them by this and the record's id, which is unique only within one store."""
    recorded = recorded_identity(store) if store is not None else None
    if recorded:
        return f"mlmd:{recorded}"
    if config.metadata_backend is MetadataBackend.SQLITE:
        return f"sqlite:{config.metadata_path.resolve()}"
    return (f"{config.metadata_backend.value}://{config.metadata_host}:"
            f"{config.metadata_server_port}/{config.metadata_database}")


def open_metadata(config: PipelineConfig, read_only: bool = True) -> Store:
    """The ML Metadata store the config selects; the one function that opens a store.

    Readers (the default) get a handle on an existing store and create nothing: a missing SQLite
    file, a file that is not a store, or a server (or database) that cannot be reached is a
    LineageError naming the file or the server's host:port. Writers pass read_only=False.
    """
    if (read_only and config.metadata_backend is MetadataBackend.SQLITE
            and not config.metadata_path.is_file()):
        raise LineageError(
            f"no metadata store at {config.metadata_path}: run the pipeline first "
            "(python -m pipeline run) or point --metadata / PIPELINE_METADATA_PATH at an "
            "existing store")
    if (read_only and config.metadata_backend is MetadataBackend.SQLITE
            and config.metadata_path.stat().st_size == 0):
        raise LineageError(
            f"{config.metadata_path} is empty (0 bytes): no run was recorded in it; restore the "
            "store from a backup, or run the pipeline")
    probe_server(config)
    try:
        return Store(metadata_connection(config, read_only))
    except RuntimeError as error:
        if config.metadata_backend is MetadataBackend.SQLITE:
            raise LineageError(
                f"{config.metadata_path} is not a readable ML Metadata store: {error}") from error
        raise LineageError(
            f"cannot open ML Metadata at {config.metadata_location}: {error}") from error
