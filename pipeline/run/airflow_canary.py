"""The pipeline DAG's task after the pusher, under `promotion: {mode: canary}`: the version this
DAG run pushed is labelled `canary` while `stable` stays, exactly as `python -m pipeline run` does
(serving/canary.label_new_push); `promote` (the feedback DAG's last task) moves stable later."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from pipeline.config import PipelineConfig
from pipeline.config.project import PromotionMode
from pipeline.metadata import connection, records
from pipeline.serving import canary
from pipeline.vocabulary import PUSHER

TASK_ID = "canary_label"


def label_pushed_version(config: PipelineConfig, config_dir: Path, dag_run: Any = None) -> str:
    """The task's callable: label the version this DAG run pushed, if it pushed one; says what
    it did (Airflow passes the task's `dag_run` by this parameter's name)."""
    store = connection.open_metadata(config)
    run_id = f"{config.pipeline_name}.{dag_run.run_id}"
    pushed = records.find_run(store, config.pipeline_name, run_id).pushed_version
    labels = canary.label_new_push(config, pushed, config_dir)
    if labels and pushed:
        said = canary.canary_line(config, pushed, labels, config_dir)
    elif pushed:
        said = (f"canary      version {pushed} not labelled canary: the first version (it serves "
                "as stable), or labelled already")
    else:
        said = f"canary      run {run_id} pushed no version: no label moved"
    print(said)
    return said


def add_canary_task(dag: Any, config: PipelineConfig, config_dir: Path) -> None:
    """Under canary promotion, a task downstream of the pusher; none under direct promotion."""
    if config.declaration.promotion.mode is not PromotionMode.CANARY:
        return
    from airflow.operators.python import PythonOperator

    task = PythonOperator(task_id=TASK_ID, dag=dag, python_callable=functools.partial(
        label_pushed_version, config, config_dir))
    dag.get_task(PUSHER) >> task
