"""The mirror as the last step of a run, a rollback or an Airflow DAG: it warns, never fails."""

from __future__ import annotations

import sys
from collections.abc import Mapping

from pipeline.config import PipelineConfig
from pipeline.mirror.settings import mirror_settings
from pipeline.mirror.sync import SyncReport, move_aliases, sync
from pipeline.serving.server_config import DEFAULT_OUTPUT_DIR, MODELS_CONFIG


def warn(what: str, error: Exception) -> None:
    """One line on stderr; the next sync catches up."""
    print(f"warning: MLflow mirror not updated after {what}: {error} "
          "(python -m pipeline mlflow-sync catches up)", file=sys.stderr)


def sync_after_run(config: PipelineConfig) -> SyncReport | None:
    """Mirror the run just made when a tracking store is configured (the local one by default).

    The run already succeeded or failed on its own: any failure of the mirror, including a bug in
    it, is a warning, so a broken or unreachable MLflow never changes a run's outcome.
    """
    settings = mirror_settings(config)
    if settings is None:
        return None

    try:
        report = sync(config, settings, DEFAULT_OUTPUT_DIR / config.model_name / MODELS_CONFIG)
    except Exception as error:  # the mirror must never fail the run
        warn("the run", error)
        return None
    print(report.text())
    return report


def aliases_after_rollback(config: PipelineConfig, labels: Mapping[str, int]) -> None:
    """Move the registry's aliases where a rollback moved TF Serving's labels."""
    settings = mirror_settings(config)
    if settings is None or (settings.database is not None and not settings.database.is_file()):
        return  # nothing mirrored yet: the first sync sets the aliases

    try:
        move_aliases(config, settings, labels)
    except Exception as error:  # serving's labels moved; the mirror follows later
        warn("the rollback", error)
