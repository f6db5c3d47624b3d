"""Airflow DAG file of the project: exposes pipeline.run.airflow_dag's DAG to a scheduler.

Point Airflow's dags_folder at this folder, or symlink this file into an existing dags folder.
"""

import sys
from pathlib import Path

# Airflow puts the dags folder on sys.path, not the project: add the project this file lives in.
_PROJECT = str(Path(__file__).resolve().parent.parent)
if _PROJECT not in sys.path:
    sys.path.insert(0, _PROJECT)

from pipeline.run.airflow_dag import DAG  # noqa: E402 - after the sys.path line above

__all__ = ["DAG"]
