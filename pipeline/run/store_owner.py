"""Which ML Metadata store owns a pipeline root and a served model's folder.

TFX names output folders after execution ids and the pusher compares a new model with the versions
its store recorded: two stores writing one folder hand out the same ids, overwrite each other's
artifacts and bless models without the other's baseline. So each store gets an identity, a UUID
written into the store itself (ML Metadata has no id of its own: a context of a type of ours), and
each folder a run writes records that identity and where the store was (never a password) in an
owner file. Every runner refuses a folder another store owns (run/consistency.py).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import MetadataBackend, PipelineConfig
from pipeline.errors import WorkFailed
from pipeline.metadata import connection
from pipeline.metadata.connection import (
    STORE_CONTEXT_NAME,
    STORE_CONTEXT_TYPE,
    STORE_ID_PROPERTY,
    recorded_identity,
)
from pipeline.vocabulary import STORE_OWNER_FILE


class ForeignStore(WorkFailed):
    """A folder belongs to another ML Metadata store, or its owner file cannot be read."""


@dataclass(frozen=True)
class StoreIdentity:
    """A store's UUID and, for people, where it was when it claimed a folder."""

    store_id: str
    location: str

    def __str__(self) -> str:
        """The short form messages use: the UUID's first 8 digits and the location."""
        return f"{self.store_id[:8]} ({self.location})"


def ensure_identity(store: connection.Store) -> str:
    """The store's UUID, written into it first when it has none (a racing writer's wins)."""
    from ml_metadata import errors
    from ml_metadata.proto import metadata_store_pb2

    found = recorded_identity(store)
    if found:
        return found
    type_id = store.put_context_type(metadata_store_pb2.ContextType(name=STORE_CONTEXT_TYPE))
    context = metadata_store_pb2.Context(type_id=type_id, name=STORE_CONTEXT_NAME)
    context.custom_properties[STORE_ID_PROPERTY].string_value = uuid.uuid4().hex
    try:
        store.put_contexts([context])
    except errors.AlreadyExistsError:
        pass
    created = recorded_identity(store)
    if created is None:
        raise ForeignStore("could not record an identity in the ML Metadata store")
    return created


def location(config: PipelineConfig) -> str:
    """Where the store is, one spelling per store: an absolute SQLite path, or the server's URL
    without its password."""
    if config.metadata_backend is MetadataBackend.SQLITE:
        return str(config.metadata_path.resolve())
    return config.metadata_location


def current_identity(config: PipelineConfig) -> StoreIdentity | None:
    """The configured store's identity, read without creating anything (None: no store yet, or
    a store that never claimed a folder)."""
    if config.metadata_backend is MetadataBackend.SQLITE and (
            not config.metadata_path.is_file() or config.metadata_path.stat().st_size == 0):
        return None
    found = recorded_identity(connection.open_metadata(config))
    return StoreIdentity(found, location(config)) if found else None


def claimed_identity(config: PipelineConfig) -> StoreIdentity:
    """The configured store's identity, created (with the store) when missing."""
    store = connection.open_metadata(config, read_only=False)
    return StoreIdentity(ensure_identity(store), location(config))


def owner_of(folder: Path) -> StoreIdentity | None:
    """The store recorded in a folder's owner file; None when the folder has none."""
    path = folder / STORE_OWNER_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return StoreIdentity(str(record["store_id"]), str(record["location"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ForeignStore(
            f"{path} does not say which ML Metadata store owns {folder} ({error}); it is written "
            "once, whole, by the first run: restore it from a copy of the folder, or run with a "
            "new --pipeline-root / --serving-dir") from error


def claim(folder: Path, identity: StoreIdentity) -> None:
    """Record the store as the folder's owner, atomically; another store's claim that won a
    race is refused like any foreign owner."""
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f"{STORE_OWNER_FILE}.{os.getpid()}.tmp"
    staging.write_text(json.dumps({"store_id": identity.store_id, "location": identity.location},
                                  sort_keys=True) + "\n", encoding="utf-8")
    try:
        os.link(staging, folder / STORE_OWNER_FILE)
    except FileExistsError:
        owner = owner_of(folder)
        if owner is None or owner.store_id != identity.store_id:
            raise ForeignStore(foreign_message(folder, owner, identity)) from None
    finally:
        staging.unlink()


def foreign_message(folder: Path, owner: StoreIdentity | None, this: StoreIdentity | None,
                    this_location: str | None = None) -> str:
    """One line: the folder, the store owning it, this run's store, and what to do."""
    where = this.location if this else this_location
    current = (f"this run's store {this}" if this else
               f"this run's store at {where}, which never claimed a folder")
    if owner is not None and owner.location == where:
        advice = (f"the store at {where} was replaced or recreated since it wrote there: "
                  "restore that store, or start a new --pipeline-root and --serving-dir "
                  "(--start-over writes under a new folder of the pipeline root)")
    else:
        advice = ("run with the store that owns it (--metadata or the PIPELINE_METADATA_* "
                  "settings), or give this store its own --pipeline-root and --serving-dir "
                  "(the production Airflow's are under its home: docs/airflow.md)")
    return f"{folder} belongs to ML Metadata store {owner}, not to {current}: {advice}"
