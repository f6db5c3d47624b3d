"""The Airflow DAG's first task: the store owns and still describes the pipeline root and the
served model's folder (run/consistency.py, as before every local run), or nothing runs."""

from __future__ import annotations

import functools
from typing import Any

from pipeline.config import PipelineConfig
from pipeline.run import consistency

TASK_ID = "store_check"


def check_store(config: PipelineConfig) -> None:
    """The task's callable: refuse (the task fails, naming both stores) or claim the folders."""
    consistency.check(config)


def add_store_check_task(dag: Any, config: PipelineConfig) -> None:
    """Put the check upstream of every task that has none, not retried: a foreign or damaged
    store does not heal by waiting."""
    from airflow.operators.python import PythonOperator

    roots = [task for task in dag.tasks if not task.upstream_list]
    check = PythonOperator(task_id=TASK_ID, python_callable=functools.partial(check_store, config),
                           retries=0, dag=dag)
    for root in roots:
        check >> root
