"""Where the mirror writes: the tracking URI a config selects, resolved once."""

from __future__ import annotations

import hashlib
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from pipeline.config import STATE_DIR, MetadataBackend, PipelineConfig
from pipeline.config.secrets import mask_uri_passwords
from pipeline.config.settings import TRACKING_OFF
from pipeline.errors import WorkFailed

LOCAL_DB = "mlflow.db"

SQLITE_FILE_PREFIX = "sqlite:///"


LOCAL_ARTIFACTS = "artifacts"


SYNC_LOCK = "sync.lock"


# How long a tracking server may take to accept a connection before the mirror gives up.
CONNECT_TIMEOUT_S = 2.0


class MirrorError(WorkFailed):
    """The MLflow store cannot be used (unreachable, corrupt); the message names it."""


@dataclass(frozen=True)
class MirrorSettings:
    """The tracking URI, and for a local store its folder (database file and artifact root)."""

    tracking_uri: str
    local_dir: Path | None

    @property
    def artifact_root(self) -> str | None:
        """Artifact location of new experiments: beside a SQLite file (the local store's or a
        given one's), a server's or file store's own default, state/mlflow for another database;
        never MLflow's default of ./mlruns under whichever folder the command ran in."""
        if self.local_dir:
            return (self.local_dir / LOCAL_ARTIFACTS).as_uri()
        scheme = urlparse(self.tracking_uri).scheme
        if scheme in ("http", "https", "databricks", "file"):
            return None
        if self.tracking_uri.startswith(SQLITE_FILE_PREFIX):
            database = Path(self.tracking_uri.removeprefix(SQLITE_FILE_PREFIX)).resolve()
            return (database.parent / LOCAL_ARTIFACTS).as_uri()
        return (STATE_DIR / "mlflow" / LOCAL_ARTIFACTS).as_uri()

    @property
    def database(self) -> Path | None:
        """The local store's SQLite file."""
        return self.local_dir / LOCAL_DB if self.local_dir else None

    @property
    def location(self) -> str:
        """The store, for people: the SQLite file or the server's URI without its password."""
        return str(self.database) if self.database else mask_uri_passwords(self.tracking_uri)

    @property
    def lock_path(self) -> Path:
        """The file whose lock makes one writer at a time: in the local store's folder, else one
        per tracking URI under state/mlflow (named by a hash, so no password is in the name)."""
        if self.local_dir:
            return self.local_dir / SYNC_LOCK
        digest = hashlib.sha256(self.tracking_uri.encode()).hexdigest()[:16]
        return STATE_DIR / "mlflow" / f"sync-{digest}.lock"


def local_dir(config: PipelineConfig) -> Path:
    """The default store's folder: state/mlflow, or beside a metadata file kept elsewhere."""
    path = config.metadata_path
    if config.metadata_backend is not MetadataBackend.SQLITE or path.is_relative_to(STATE_DIR):
        return STATE_DIR / "mlflow"
    return path.parent / "mlflow"


def mirror_settings(config: PipelineConfig) -> MirrorSettings | None:
    """The mirror's store for a config; None when tracking_uri is 'off'."""
    if config.tracking_uri == TRACKING_OFF:
        return None
    if config.tracking_uri:
        return MirrorSettings(config.tracking_uri, None)
    folder = local_dir(config)
    return MirrorSettings(f"{SQLITE_FILE_PREFIX}{folder / LOCAL_DB}", folder)


def check_reachable(settings: MirrorSettings, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast (MirrorError) when an HTTP tracking server does not accept a connection."""
    parsed = urlparse(settings.tracking_uri)
    if parsed.scheme not in ("http", "https"):
        return
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", port), timeout=timeout_s):
            return
    except OSError as error:
        raise MirrorError(
            f"MLflow tracking server {settings.location} is not reachable ({error})") from error
