"""Local MLflow stores for tests, with the schema created once per session and copied.

Creating MLflow's SQLite schema runs its ~50 migrations: 10 s on an idle 2-core machine, close to a
minute on a busy one. Every store a test gets is a copy of one made through the mirror's own opener.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from pipeline.mirror.settings import LOCAL_DB, MirrorSettings

_TEMPLATE: list[Path] = []


def local_settings(folder: Path) -> MirrorSettings:
    """The settings of a local store in `folder` (database and artifact root)."""
    return MirrorSettings(f"sqlite:///{folder / LOCAL_DB}", folder)


def _template() -> Path:
    """An empty store's database file, made once per process by the mirror's opener."""
    if not _TEMPLATE:
        from pipeline.mirror.tracking import open_client

        folder = Path(tempfile.mkdtemp(prefix="mlflow-template-"))
        open_client(local_settings(folder))
        _TEMPLATE.append(folder / LOCAL_DB)
    return _TEMPLATE[0]


def empty_store(folder: Path) -> MirrorSettings:
    """A local store in `folder` whose schema exists and which holds nothing yet."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(_template(), folder / LOCAL_DB)
    return local_settings(folder)
