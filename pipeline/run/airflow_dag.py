"""Airflow's entry point: one pipeline DAG per project under models/, configured by environment
variables (dags/pipelines.py exposes them to a scheduler).

PIPELINE_<FIELD> variables configure the pipelines (as for `python -m pipeline run`) and
PIPELINE_AIRFLOW_{SCHEDULE,RETRIES,RETRY_DELAY_SECONDS,START_DATE} their scheduling. With
PIPELINE_PROJECT set, only that project's DAG is built. Otherwise every project gets one, its dag_id
the project's pipeline name; variables naming one project's things (its data, schema, store, steps,
thresholds: PROJECT_FIELDS) then apply to the default project only, the others (metadata server,
Beam, serving and log dirs) to all.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline import environment
from pipeline.config import MODELS_DIR, PROJECT_ROOT, config_from_values, default_project, env_values
from pipeline.config.project import project_names
from pipeline.errors import InvalidInput
from pipeline.mirror.airflow_task import add_sync_task
from pipeline.run.airflow_canary import add_canary_task
from pipeline.run.airflow_runner import build_dag, settings_from_env
from pipeline.run.airflow_store_check import add_store_check_task
from pipeline.run.beam_staging import skip_tfx_package_for_local_beam
from pipeline.serving.canary import airflow_config_dir

# Airflow imports this file in fresh processes: TensorFlow's variables must be set before TFX loads.
environment.prepare()

# Config fields that name one project's things: from the environment, they configure the default
# project's DAG only (unless PIPELINE_PROJECT selects a single project).
PROJECT_FIELDS = frozenset({
    "pipeline_name", "model_name", "data_dir", "spans", "schema_path", "pipeline_root",
    "metadata_path", "train_steps", "eval_steps", "thresholds", "min_auc", "batch_size",
    "learning_rate", "seed",
})
_log = logging.getLogger(__name__)


def build_dags(environ: Mapping[str, str]) -> dict[str, Any]:
    """The pipeline DAGs by dag_id. A project whose config is invalid (its data folder missing, a
    bad declaration) is logged and left out, so it does not hide the other projects' DAGs; when
    none can be built, the first error is raised (Airflow shows it as the file's import error)."""
    values: dict[str, object] = dict(env_values(environ))
    settings = settings_from_env(environ)
    models_dir = Path(str(values.get("models_dir", MODELS_DIR)))
    chosen = values.get("project")
    names = [str(chosen)] if chosen else project_names(models_dir)
    default = str(chosen) if chosen else default_project(PROJECT_ROOT)
    shared = {k: v for k, v in values.items() if k not in PROJECT_FIELDS}
    skip_tfx_package_for_local_beam()  # the tasks' executors run in this process's children
    dags: dict[str, Any] = {}
    errors: list[InvalidInput] = []
    for name in names:
        own = values if name == default else shared
        try:
            config = config_from_values({**own, "project": name})
        except InvalidInput as error:
            if chosen:
                raise
            _log.error("no Airflow DAG for project '%s': %s", name, error)
            errors.append(error)
            continue
        dags[config.pipeline_name] = build_dag(config, settings)
        add_store_check_task(dags[config.pipeline_name], config)
        add_canary_task(dags[config.pipeline_name], config,
                        airflow_config_dir(settings.serving_config_root, config.model_name))
        add_sync_task(dags[config.pipeline_name], config)
    if not dags and errors:
        raise errors[0]
    return dags


DAGS = build_dags(os.environ)
