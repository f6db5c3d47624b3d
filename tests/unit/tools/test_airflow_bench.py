"""The Airflow benchmark scenario's readings: the executor's log lines and the task timings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from benchmarks import airflow_run, report

UTC = dt.timezone.utc
LOG = """\
[2026-12-01T23:10:00.100+0000] {scheduler_job_runner.py:423} INFO - 1 tasks up for execution
[2026-12-01T23:10:01.250+0000] {local_executor.py:139} INFO - QueuedLocalWorker running \
['airflow', 'tasks', 'run', 'taxi', 'CsvExampleGen', 'bench', '--local', '--subdir', \
'DAGS_FOLDER/pipelines.py']
[2026-12-01T23:10:02.000+0000] {local_executor.py:139} INFO - QueuedLocalWorker running \
['airflow', 'tasks', 'run', 'taxi', 'CsvExampleGen', 'other_run', '--local']
[2026-12-01T23:11:05.500+0000] {local_executor.py:139} INFO - QueuedLocalWorker running \
['airflow', 'tasks', 'run', 'taxi', 'StatisticsGen', 'bench', '--local']
"""


def test_worker_starts_reads_the_executor_lines_of_one_run(tmp_path: Path) -> None:
    """Only the run's own tasks, at the time the worker took them (UTC)."""
    log = tmp_path / "scheduler.out"
    log.write_text(LOG)
    assert airflow_run.worker_starts(log, "taxi", "bench") == {
        "CsvExampleGen": dt.datetime(2026, 12, 1, 23, 10, 1, 250000, tzinfo=UTC),
        "StatisticsGen": dt.datetime(2026, 12, 1, 23, 11, 5, 500000, tzinfo=UTC),
    }


def test_task_timings_split_the_queued_delay_and_render(tmp_path: Path) -> None:
    """queued -> running = wait for a worker + process start and parse; the gap after the last
    upstream task; the report shows them."""
    upstream_instance = {"task_id": "ImportCuratedSchema", "state": "success",
                         "queued_when": None, "start_date": None,
                         "end_date": "2026-12-01T23:09:58.000000+00:00", "duration": 1.0}
    instance = {"task_id": "CsvExampleGen", "state": "success",
                "queued_when": "2026-12-01T23:10:00.500000+00:00",
                "start_date": "2026-12-01T23:10:31.250000+00:00",
                "end_date": "2026-12-01T23:10:41.250000+00:00", "duration": 10.0}
    workers = {"CsvExampleGen": dt.datetime(2026, 12, 1, 23, 10, 1, 250000, tzinfo=UTC)}
    upstream = airflow_run.upstream_tasks([
        {"task_id": "ImportCuratedSchema", "downstream_task_ids": ["CsvExampleGen"]},
        {"task_id": "CsvExampleGen", "downstream_task_ids": []}])
    assert upstream == {"ImportCuratedSchema": set(), "CsvExampleGen": {"ImportCuratedSchema"}}
    timings = airflow_run.task_timings([upstream_instance, instance], workers,
                                       {"CsvExampleGen": 6.5}, upstream)
    assert timings["CsvExampleGen"] == {
        "state": "success", "scheduling_gap": 2.5, "queued_delay": 30.75, "executor_wait": 0.75,
        "process_start_and_parse": 30.0, "duration": 10.0, "component": 6.5}
    run = {"state": "success", "dag_run_seconds": 50.0, "preload": True, "load_before": 1.0,
           "tasks": timings}
    results = {"machine": {"date": "2026-12-01", "cpus": 2, "load_average": [1.0, 1.0, 1.0]},
               "options": {"train_steps": 10},
               "airflow": {"airflow": run, "local": {"seconds": 40.0}, "dag_run_over_local": 1.25}}
    text = report.markdown(results)
    assert "DAG run success in 50.0 s, local run 40.0 s, ratio 1.25" in text
    assert "| CsvExampleGen | 2.5 | 30.8 | 0.8 | 30.0 | 10.0 | 6.5 |" in text
