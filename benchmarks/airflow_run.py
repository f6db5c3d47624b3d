"""Benchmark scenario: one DAG run of the bundled data on the production Airflow
(`python -m pipeline airflow`: its own PostgreSQL, the LocalExecutor), against the local run of the
same data and train steps. Where a task's seconds go is read from Airflow itself: the REST API's
task instances (queued, start, end), the executor's log line when a worker picks a task up, and the
components' own seconds in ML Metadata.

`python -m benchmarks.airflow_run --help` runs it alone; the suite calls `scenario`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import _tree_rss
from pipeline.config import PipelineConfig
from pipeline.metadata import connection, records
from pipeline.services.postgres_server import free_port
from tests.support.postgres import AirflowCommand, airflow_command, postgres_reachable_folder

RUN_ID = "bench"
POLL_SECONDS = 2.0
FINISHED = {"success", "failed"}
MIB = 1024 * 1024
# The executor's line as a worker process takes a task: `[<time>] {local_executor.py:N} INFO -
# QueuedLocalWorker running ['airflow', 'tasks', 'run', '<dag>', '<task>', '<run id>', ...]`.
WORKER_LINE = re.compile(
    r"^\[(?P<time>[^\]]+)\] .*Local\w*Worker running \['airflow', 'tasks', 'run', "
    r"'(?P<dag>[^']+)', '(?P<task>[^']+)', '(?P<run>[^']+)'")


@dataclass(frozen=True)
class AirflowRunOptions:
    """Which data, how many train steps, where the state goes, how long to wait."""

    data: Path
    train_steps: int
    timeout: float = 3600.0
    # False: `--no-preload`, every task imports TensorFlow and TFX itself (the cost before).
    preload: bool = True


def pipeline_environ(data: Path, root: Path, train_steps: int) -> dict[str, str]:
    """PIPELINE_* and AIRFLOW__* variables of the command: data and steps as the local run,
    every location under root, manual runs without retries (a failure is a result, not a wait)."""
    return {
        "PIPELINE_DATA_DIR": str(data),
        "PIPELINE_PIPELINE_ROOT": str(root / "pipeline_root"),
        "PIPELINE_SERVING_DIR": str(root / "serving_model"),
        "PIPELINE_LOG_DIR": str(root / "logs"),
        "PIPELINE_TRAIN_STEPS": str(train_steps),
        "PIPELINE_AIRFLOW_SCHEDULE": "none",
        "PIPELINE_AIRFLOW_RETRIES": "0",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
    }


def _time(text: str | None) -> dt.datetime | None:
    """An Airflow timestamp (REST API or log line) as an aware datetime."""
    if not text:
        return None
    text = text.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = f"{text[:-2]}:{text[-2:]}"
    return dt.datetime.fromisoformat(text)


def _seconds(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    """end - start in seconds, when both are known."""
    return round((end - start).total_seconds(), 2) if start and end else None


def worker_starts(scheduler_log: Path, dag_id: str, run_id: str) -> dict[str, dt.datetime]:
    """When an executor worker took each task of the run (its last try), from the scheduler log."""
    starts: dict[str, dt.datetime] = {}
    for line in scheduler_log.read_text(errors="replace").splitlines():
        match = WORKER_LINE.match(line)
        if match and match["dag"] == dag_id and match["run"] == run_id:
            starts[match["task"]] = _time(match["time"])  # type: ignore[assignment]
    return starts


def _poll(condition: Callable[[], object], command: AirflowCommand, timeout: float,
          what: str) -> object:
    """Poll until condition() is truthy; fail if the command exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if command.process.poll() is not None:
            raise RuntimeError(f"`python -m pipeline airflow` exited while waiting for {what}")
        value = condition()
        if value:
            return value
        time.sleep(POLL_SECONDS)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process tree so far: each live process and the children it reaped (a
    child's time moves to its parent only once reaped, so nothing is counted twice)."""
    import psutil

    total = 0.0
    try:
        processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return total
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def trigger_and_wait(command: AirflowCommand, dag_id: str, timeout: float) -> dict:
    """Wait for the parsed DAG, unpause and trigger it, follow the run to its end; the seconds
    until the DAG was parsed, the CPU seconds and peak memory of Airflow's processes (scheduler,
    UI, tasks; not the database) during the run."""
    started = time.monotonic()
    _poll(lambda: command.api("GET", "dags?only_active=true")["total_entries"], command, timeout,
          "the scheduler to parse the DAG file")
    parsed = time.monotonic() - started
    cpu_before = tree_cpu_seconds(command.process.pid)
    command.api("PATCH", f"dags/{dag_id}", {"is_paused": False})
    command.api("POST", f"dags/{dag_id}/dagRuns", {"dag_run_id": RUN_ID})
    peak = 0

    def finished() -> str | None:
        nonlocal peak
        peak = max(peak, _tree_rss(command.process.pid) or 0)
        state = command.api("GET", f"dags/{dag_id}/dagRuns/{RUN_ID}")["state"]
        return state if state in FINISHED else None

    state = _poll(finished, command, timeout, "the DAG run to finish")
    return {"state": state, "dag_parsed_seconds": round(parsed, 1),
            "cpu_seconds": round(tree_cpu_seconds(command.process.pid) - cpu_before, 1),
            "peak_tree_rss_mib": round(peak / MIB, 1)}


def upstream_tasks(tasks: list[dict]) -> dict[str, set[str]]:
    """Each task's upstream tasks, from the REST API's tasks and their downstream_task_ids."""
    upstream: dict[str, set[str]] = {task["task_id"]: set() for task in tasks}
    for task in tasks:
        for child in task["downstream_task_ids"]:
            upstream[child].add(task["task_id"])
    return upstream


def task_timings(task_instances: list[dict], workers: dict[str, dt.datetime],
                 components: dict[str, float], upstream: dict[str, set[str]]) -> dict[str, dict]:
    """Per task: the scheduler's latency (last upstream task ended -> queued), the wait for a
    worker (queued -> a worker took it), the worker's process start, DAG parse and imports (took
    it -> running), the run, and the component's own MLMD seconds."""
    ended = {task["task_id"]: _time(task.get("end_date")) for task in task_instances}
    timings = {}
    for task in sorted(task_instances, key=lambda t: t.get("start_date") or ""):
        queued, start = _time(task.get("queued_when")), _time(task.get("start_date"))
        taken = workers.get(task["task_id"])
        before = [ended[name] for name in upstream.get(task["task_id"], ()) if ended.get(name)]
        timings[task["task_id"]] = {
            "state": task["state"],
            "scheduling_gap": _seconds(max(before), queued) if before else None,
            "queued_delay": _seconds(queued, start),
            "executor_wait": _seconds(queued, taken),
            "process_start_and_parse": _seconds(taken, start),
            "duration": task.get("duration") and round(task["duration"], 2),
            "component": components.get(task["task_id"]),
        }
    return timings


def component_seconds(command: AirflowCommand, config: PipelineConfig, run_id: str) -> dict:
    """Each component's seconds as ML Metadata on the command's server recorded them."""
    store = connection.open_metadata(command.metadata_config(config))
    return {run.node_id: round(run.seconds, 2)
            for run in records.component_runs(store, f"{config.pipeline_name}.{run_id}")}


def _gaps(dag_run: dict, timings: dict[str, dict]) -> dict[str, float | None]:
    """The DAG run's wall time split into sums over tasks (tasks overlap where the graph allows)."""
    def total(key: str) -> float:
        return round(sum(t[key] or 0.0 for t in timings.values()), 1)

    return {
        "dag_run_seconds": _seconds(_time(dag_run["start_date"]), _time(dag_run["end_date"])),
        "sum_task_duration": total("duration"),
        "sum_scheduling_gap": total("scheduling_gap"),
        "sum_queued_delay": total("queued_delay"),
        "sum_executor_wait": total("executor_wait"),
        "sum_process_start_and_parse": total("process_start_and_parse"),
        "sum_component": total("component"),
    }


def airflow_run(options: AirflowRunOptions) -> dict:
    """Start the command in a temp home, run the DAG once, read the timings, stop everything."""
    with postgres_reachable_folder("airflow-bench-") as root:
        environ = pipeline_environ(options.data, root, options.train_steps)
        load = os.getloadavg()[0]
        flags = () if options.preload else ("--no-preload",)
        with airflow_command(root / "home", free_port(), environ, flags) as command:
            config = PipelineConfig()
            dag_id = config.pipeline_name
            run = trigger_and_wait(command, dag_id, options.timeout)
            dag_run = command.api("GET", f"dags/{dag_id}/dagRuns/{RUN_ID}")
            tasks = command.api("GET", f"dags/{dag_id}/dagRuns/{RUN_ID}/taskInstances")
            workers = worker_starts(command.home / "logs" / "scheduler.out", dag_id, RUN_ID)
            components = component_seconds(command, config, RUN_ID)
            upstream = upstream_tasks(command.api("GET", f"dags/{dag_id}/tasks")["tasks"])
            timings = task_timings(tasks["task_instances"], workers, components, upstream)
            return {
                "data": str(options.data), "train_steps": options.train_steps,
                "preload": options.preload,
                "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2),
                "startup_seconds": round(command.startup_seconds, 1), **run,
                **_gaps(dag_run, timings), "tasks": timings,
            }


def scenario(options: AirflowRunOptions, local: dict | None,
             run_local: Callable[[], dict] | None, log: Callable[[str], None] = print) -> dict:
    """The Airflow DAG run and the local run it is compared with (`local` when the caller has
    measured it on the same data and steps, else `run_local()`; None: no ratio)."""
    if local is None and run_local is not None:
        local = run_local()
    log("[bench] airflow DAG run ...")
    result = airflow_run(options)
    ratio = (result["dag_run_seconds"] / local["seconds"]
             if local and result["dag_run_seconds"] else None)
    log(f"[bench] airflow DAG run: {result['state']} in {result['dag_run_seconds']} s"
        + (f", {ratio:.2f}x the local run" if ratio else ""))
    cpu_ratio = (result["cpu_seconds"] / local["cpu_seconds"]
                 if local and local.get("cpu_seconds") else None)
    return {"airflow": result, "local": local, "dag_run_over_local": ratio,
            "cpu_over_local": cpu_ratio}


def summary_lines(result: dict) -> Iterator[str]:
    """A few lines for the console."""
    run = result["airflow"]
    yield (f"DAG run {run['state']}: {run['dag_run_seconds']} s (local "
           f"{(result['local'] or {}).get('seconds')} s, ratio {result['dag_run_over_local']}); "
           f"load {run['load_before']} -> {run['load_after']}")
    for key in ("cpu_seconds", "sum_task_duration", "sum_scheduling_gap", "sum_queued_delay",
                "sum_executor_wait", "sum_process_start_and_parse", "sum_component", "peak_tree_rss_mib"):
        yield f"  {key}: {run[key]}"
    for task, timing in run["tasks"].items():
        yield f"  {task}: {timing}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scenario alone; writes airflow.json in --output."""
    from benchmarks.suite import BUNDLED_DATA, Suite, SuiteOptions

    parser = argparse.ArgumentParser(prog="python -m benchmarks.airflow_run", description=__doc__)
    parser.add_argument("--train-steps", type=int, default=SuiteOptions().train_steps)
    parser.add_argument("--output", type=Path, default=SuiteOptions().output_dir)
    parser.add_argument("--work-dir", type=Path, default=SuiteOptions().work_dir)
    parser.add_argument("--no-local-run", dest="local", action="store_false",
                        help="skip the local run (no ratio)")
    parser.add_argument("--no-preload", dest="preload", action="store_false",
                        help="start Airflow with --no-preload: each task imports TensorFlow")
    args = parser.parse_args(argv)
    suite = Suite(SuiteOptions(train_steps=args.train_steps, work_dir=args.work_dir))
    run_local = (lambda: suite.run_ours("airflow-local", BUNDLED_DATA, suite.fresh("airflow-local"))
                 ) if args.local else None
    options = AirflowRunOptions(BUNDLED_DATA, args.train_steps, preload=args.preload)
    result = scenario(options, None, run_local)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "airflow.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    for line in summary_lines(result):
        print(line)
    return 0 if result["airflow"]["state"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
