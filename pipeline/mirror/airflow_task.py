"""The Airflow DAG's last task: mirror the run into MLflow, whether the run succeeded or not."""

from __future__ import annotations

import functools
from typing import Any

from pipeline.config import PipelineConfig

TASK_ID = "mlflow_sync"


def add_sync_task(dag: Any, config: PipelineConfig) -> None:
    """Append a task downstream of every leaf that syncs when they are all done (failed runs and
    runs stopped at the data gate show in MLflow too); it only warns, so it never fails the DAG.
    Nothing is added when tracking_uri is 'off'."""
    from pipeline.mirror.settings import mirror_settings

    if mirror_settings(config) is None:
        return
    from airflow.operators.python import PythonOperator

    from pipeline.mirror.hooks import sync_after_run

    leaves = [task for task in dag.tasks if not task.downstream_list]
    sync = PythonOperator(task_id=TASK_ID, python_callable=functools.partial(sync_after_run, config),
                          trigger_rule="all_done", retries=0, dag=dag)
    for leaf in leaves:
        leaf >> sync
