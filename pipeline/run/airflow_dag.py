"""Airflow's entry point: the pipeline as a module-level DAG, configured by environment variables.

PIPELINE_<FIELD> variables configure the pipeline (as for `python -m pipeline run`) and
PIPELINE_AIRFLOW_{SCHEDULE,RETRIES,RETRY_DELAY_SECONDS,START_DATE} its scheduling.
"""

from __future__ import annotations

import os

from pipeline import environment
from pipeline.config import config_from_values, env_values
from pipeline.run.airflow_runner import build_dag, settings_from_env

# Airflow imports this file in fresh processes: TensorFlow's variables must be set before TFX loads.
environment.prepare()

DAG = build_dag(config_from_values(env_values(os.environ)), settings_from_env(os.environ))
