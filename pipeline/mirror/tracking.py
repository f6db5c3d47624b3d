"""Opening the MLflow store, and turning its failures into one MirrorError naming the store."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pipeline.config.secrets import mask_credentials_in_text
from pipeline.mirror.settings import MirrorError, MirrorSettings, check_reachable

if TYPE_CHECKING:
    from mlflow import MlflowClient

# Loggers that print schema migrations and retries on stderr when a store is opened.
_CHATTY = ("alembic", "mlflow", "urllib3")


def store_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the store, not this code, is at fault."""
    import requests
    import sqlalchemy.exc
    from mlflow.exceptions import MlflowException

    return (MlflowException, sqlalchemy.exc.SQLAlchemyError, requests.RequestException, OSError)


@contextlib.contextmanager
def store_failures(settings: MirrorSettings) -> Iterator[None]:
    """Re-raise a store's failure as a MirrorError naming the store (one `error:` line)."""
    try:
        yield
    except MirrorError:
        raise
    except store_errors() as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise MirrorError(f"MLflow store {settings.location} is not usable: "
                          f"{mask_credentials_in_text(first)[:300]}") from error


def open_client(settings: MirrorSettings) -> MlflowClient:
    """A client on the store: the local store's folder is created, a server must answer quickly."""
    check_reachable(settings)
    if settings.local_dir is not None:
        settings.local_dir.mkdir(parents=True, exist_ok=True)
    from mlflow import MlflowClient

    for name in _CHATTY:  # after the import: MLflow sets its own logger's level when imported
        logging.getLogger(name).setLevel(logging.WARNING)

    with store_failures(settings):
        client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
        client.search_experiments(max_results=1)
    return client
