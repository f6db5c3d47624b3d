"""The Airflow DAG's last task: mirror the run into MLflow, whether the run succeeded or not."""

from __future__ import annotations

import functools
from typing import Any

from pipeline.config import PipelineConfig
from pipeline.mirror.hooks import sync_after_run
from pipeline.mirror.settings import mirror_settings

TASK_ID = "mlflow_sync"


def add_sync_task(dag: Any, config: PipelineConfig) -> None:
    """Append a teardown task downstream of every leaf: it syncs once they are all done (failed
    runs and runs stopped at the data gate show in MLflow too), and as a teardown it does not
    decide the DAG run's state, which stays that of the pipeline's tasks. It only warns, so it
    never fails either. Nothing is added when tracking_uri is 'off'."""
    if mirror_settings(config) is None:
        return
    from airflow.operators.python import PythonOperator

    leaves = [task for task in dag.tasks if not task.downstream_list]
    sync = PythonOperator(task_id=TASK_ID, python_callable=functools.partial(sync_after_run, config),
                          retries=0, dag=dag).as_teardown()
    for leaf in leaves:
        leaf >> sync
