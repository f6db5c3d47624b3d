"""Airflow DAG file: exposes pipeline.scoring.feedback_dag's feedback DAG to a scheduler (dag_id
`<project>_feedback`): late labels measured, a live degradation triggers retraining, then promote.

Settings come from the scheduler's PIPELINE_FEEDBACK_* environment variables; the project from
PIPELINE_FEEDBACK_PROJECT, else PIPELINE_PROJECT, else the default project (docs/airflow.md).
"""

import os
import sys
from pathlib import Path

# Airflow puts the dags folder on sys.path, not the project: add the project this file lives in.
_PROJECT = str(Path(__file__).resolve().parent.parent)
if _PROJECT not in sys.path:
    sys.path.insert(0, _PROJECT)

from pipeline.scoring.feedback_dag import create_feedback_dag, settings_from_env  # noqa: E402

dag = create_feedback_dag(settings_from_env(os.environ))

__all__ = ["dag"]
