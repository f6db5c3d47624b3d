"""The Airflow DAG's first task: the store owns and still describes the pipeline root and the
served model's folder (run/consistency.py, as before every local run), or nothing runs; then the
DAG run's reason (its type, or its conf's `reason`) is recorded on its run in ML Metadata."""

from __future__ import annotations

import functools
from typing import Any

from pipeline.config import PipelineConfig
from pipeline.metadata import connection
from pipeline.run import consistency, run_reason

TASK_ID = "store_check"


def check_store(config: PipelineConfig, dag_run: Any = None) -> None:
    """The task's callable: refuse (the task fails, naming both stores) or claim the folders, then
    record why the run happens (Airflow passes the task's `dag_run` by this parameter's name)."""
    consistency.check(config)
    if dag_run is not None:
        reason = run_reason.airflow_reason(dag_run.run_type, dag_run.conf)
        store = connection.open_metadata(config, read_only=False)
        run_reason.record_airflow_reason(store, config.pipeline_name, dag_run.run_id, reason)
        print(f"run reason  {reason}")


def add_store_check_task(dag: Any, config: PipelineConfig) -> None:
    """Put the check upstream of every task that has none, not retried: a foreign or damaged
    store does not heal by waiting."""
    from airflow.operators.python import PythonOperator

    roots = [task for task in dag.tasks if not task.upstream_list]
    check = PythonOperator(task_id=TASK_ID, python_callable=functools.partial(check_store, config),
                           retries=0, dag=dag)
    for root in roots:
        check >> root
