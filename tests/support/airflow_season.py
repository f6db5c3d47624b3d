"""A short season driven through the loop's real Airflow DAGs, in one process (`python -m
tests.support.airflow_season SPEC.json`, with AIRFLOW_HOME and the PIPELINE_* settings of the
spec in its environment; tests/orchestrators/test_season_airflow.py starts it).

The project's DAG folder (dags/pipelines.py, monitoring.py, feedback.py) is parsed once into
Airflow's database; each DAG run is `DAG.test()`, Airflow's own in-process runner of real task
instances (TensorFlow is imported once). Each week, as a team's schedule would:

1. the labels of last week's batch land in the labels folder and the feedback DAG runs (live
   metrics, a degradation trigger, promote_canary); last week's labelled batch is ingested;
2. `score` scores this week's batch (stable, the canary in shadow) and the batch becomes the
   request log the monitoring DAG checks;
3. a drift alert's TriggerDagRunOperator queued a run of the pipeline DAG with the reason in its
   conf: that queued run is executed the next week, after the shifted batch was ingested with its
   labels (DAG.test on its logical date with its conf, which is what the scheduler would start),
   so it trains on the latest window, the shift included, and its store_check records the reason
   in ML Metadata.

The first model is trained with few steps (`first_steps`), the retrained one with `steps`, so the
challenger is clearly better. Everything observed is written to the spec's `result` JSON file.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from tests.support import season

PROJECT = "season"


def dag_test(dag: Any, **kwargs: Any) -> dict[str, Any]:
    """One DAG run by DAG.test: its id, state, conf and each task's state."""
    run = dag.test(**kwargs)
    return {"dag_id": dag.dag_id, "run_id": run.run_id, "state": str(run.state),
            "conf": run.conf or {},
            "tasks": {ti.task_id: str(ti.state) for ti in run.get_task_instances()}}


def queued_triggers(dag_id: str) -> list[Any]:
    """The pipeline DAG's runs a loop DAG triggered (a reason in their conf) and nothing ran yet."""
    from airflow.models import DagRun

    return [run for run in DagRun.find(dag_id=dag_id)
            if (run.conf or {}).get("reason") and str(run.state) == "queued"]


def pipeline_dag(environ: dict[str, str], steps: str) -> Any:
    """The project's pipeline DAG as dags/pipelines.py builds it, trained with `steps` steps."""
    from pipeline.run.airflow_dag import build_dags

    return build_dags({**environ, "PIPELINE_TRAIN_STEPS": steps})[PROJECT]


def outcome(result: season.Outcome) -> dict[str, Any]:
    return {"argv": list(result.argv), "code": result.code, "out": result.out[-3000:],
            "err": result.err[-3000:]}


class AirflowSeason:
    """The season's folders and the DAGs, and the log of every step."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.root = Path(spec["root"])
        self.steps: list[dict[str, Any]] = []
        self.bag: Any = None
        self.commands = season.available_commands()
        self.config_dir = Path(os.environ["PIPELINE_AIRFLOW_SERVING_CONFIG_ROOT"]) / PROJECT

    def cli(self, week: int, name: str, argv: list[str]) -> dict[str, Any]:
        """A `python -m pipeline` command in this process, logged."""
        done = outcome(season.call(argv, self.commands))
        self.steps.append({"week": week, "step": name, **done})
        return done

    def dag(self, week: int, name: str, dag: Any, **kwargs: Any) -> dict[str, Any]:
        """A DAG run, logged with the triggers it left queued."""
        done = dag_test(dag, **kwargs)
        done["queued"] = [run.conf for run in queued_triggers(PROJECT)]
        self.steps.append({"week": week, "step": name, **done})
        return done

    def retrain_on_trigger(self, week: int) -> None:
        """Execute the first drift-triggered run of the pipeline DAG, as the scheduler would start
        it (later triggers stay queued: one retraining is what the season checks)."""
        if any(step["step"] == "triggered pipeline" for step in self.steps):
            return
        for run in queued_triggers(PROJECT):
            if str(run.conf["reason"]).startswith("drift alert"):
                self.dag(week, "triggered pipeline", pipeline_dag(dict(os.environ), self.spec["steps"]),
                         execution_date=run.execution_date, run_conf=dict(run.conf))
                return

    def play(self) -> None:
        """Init, the first model, then every week (module docstring)."""
        from airflow.models import DagBag

        first, weeks = season.generate(self.root / "generated", season.Plan(**self.spec["plan"]))
        local = season.Season(self.root, PROJECT, 2, int(self.spec["steps"]))
        started = local.init(first, min_labelled_rows=self.spec["min_labelled_rows"],
                             baseline_margin=0.15)
        self.steps.append({"week": 0, "step": "init", **outcome(started)})
        bag = DagBag(dag_folder=self.spec["dags"], include_examples=False)
        if bag.import_errors:
            raise RuntimeError(f"DAG import errors: {bag.import_errors}")
        bag.sync_to_db()
        self.bag = bag
        self.dag(0, "pipeline", pipeline_dag(dict(os.environ), self.spec["first_steps"]))
        last = None
        for week in weeks:
            if last is not None:
                self.feedback(week.number, last)
                self.retrain_on_trigger(week.number)
            self.cli(week.number, "score", ["score", "--project", PROJECT, "--config-dir",
                                            str(self.config_dir), "--data", str(week.batch), "--json"])
            requests = Path(os.environ["PIPELINE_MONITOR_REQUESTS_FILE"])
            requests.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(week.batch, requests)
            self.dag(week.number, "monitoring", bag.dags[f"{PROJECT}_monitoring"])
            last = week
        if last is not None:
            self.feedback(last.number + 1, last)

    def feedback(self, number: int, last: season.Week) -> None:
        """Last week's labels arrive: the feedback DAG, then its labelled batch is ingested."""
        labels = Path(os.environ["PIPELINE_FEEDBACK_LABELS"])
        labels.mkdir(parents=True, exist_ok=True)
        shutil.copy(last.labels, labels / f"week-{last.number}.csv")
        self.dag(number, "feedback", self.bag.dags[f"{PROJECT}_feedback"])
        self.cli(number, "ingest", ["ingest", str(last.labelled), "--project", PROJECT])

    def facts(self) -> dict[str, Any]:
        """What ML Metadata and the models.config hold after the season."""
        from pipeline.config import config_from_values, env_values
        from pipeline.metadata import connection, records
        from pipeline.serving.canary import current_plan

        config = config_from_values(env_values(os.environ))
        store = connection.open_metadata(config)
        runs = [{"run_id": r.run_id, "reason": r.reason, "pushed": r.pushed_version,
                 "status": r.status} for r in records.list_runs(store, config.pipeline_name)]
        plan = current_plan(self.config_dir, config.model_name)
        return {"runs": runs, "labels": plan.labels if plan else None}


def main(spec_path: str) -> int:
    """Play the season; write the steps and the facts, even when a step raised."""
    spec = json.loads(Path(spec_path).read_text())
    played = AirflowSeason(spec)
    error = None
    try:
        played.play()
    except Exception:  # the test reports it with every step that ran
        import traceback

        error = traceback.format_exc()
        print(error, file=sys.stderr)
    answer: dict[str, Any] = {"steps": played.steps, "error": error}
    try:
        answer.update(played.facts())
    except Exception as raised:
        answer["facts_error"] = repr(raised)
    Path(spec["result"]).write_text(json.dumps(answer, indent=1, default=str))
    return 0 if error is None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
