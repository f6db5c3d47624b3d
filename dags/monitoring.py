"""Airflow DAG file: exposes pipeline.monitoring.monitor_dag's daily monitoring DAG to a scheduler
(dag_id `<project>_monitoring`).

Settings come from the scheduler's PIPELINE_MONITOR_* environment variables; the project from
PIPELINE_MONITOR_PROJECT, else PIPELINE_PROJECT, else the default project (docs/continuous_training.md).
"""

import os
import sys
from pathlib import Path

# Airflow puts the dags folder on sys.path, not the project: add the project this file lives in.
_PROJECT = str(Path(__file__).resolve().parent.parent)
if _PROJECT not in sys.path:
    sys.path.insert(0, _PROJECT)

from pipeline.monitoring.monitor_dag import create_monitor_dag, settings_from_env  # noqa: E402

dag = create_monitor_dag(settings_from_env(os.environ))

__all__ = ["dag"]
