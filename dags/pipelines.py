"""Airflow DAG file of the project: one pipeline DAG per project under models/ (dag_id: the
project's pipeline name), built by pipeline.run.airflow_dag from PIPELINE_* variables.

Point Airflow's dags_folder at this folder, or symlink this file into an existing dags folder.
"""

import sys
from pathlib import Path

# Airflow puts the dags folder on sys.path, not the project: add the project this file lives in.
_PROJECT = str(Path(__file__).resolve().parent.parent)
if _PROJECT not in sys.path:
    sys.path.insert(0, _PROJECT)

from pipeline.run.airflow_dag import DAGS  # noqa: E402 - after the sys.path line above

# Airflow collects the DAG objects among this module's globals: one global per dag_id.
globals().update(DAGS)

__all__ = sorted(DAGS)
