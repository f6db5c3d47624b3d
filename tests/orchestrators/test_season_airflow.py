"""The season on Airflow: the loop's real DAGs (pipeline, monitoring, feedback) run by Airflow's
DAG.test over a first span and three weekly batches, the shift from week 2
(tests/support/airflow_season.py plays it in one process and writes what it saw).

Asserted: the first model is trained by hand and serves stable; the clean week neither alerts
nor triggers; the shifted week's drift alert triggers the pipeline DAG, whose run (executed once
the shifted batch landed with its labels) records the reason `drift alert: ...` in ML Metadata
and labels its model canary; feedback measures live
metrics each week and promote moves stable to the canary once both scored enough labelled rows
(before that, a refusal for lack of evidence that is not a failure)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import PROJECT_ROOT
from pipeline.services import airflow_server

pytestmark = [pytest.mark.airflow, pytest.mark.taxi]
PLAN = {"weeks": 3, "rows": 200, "shift_from": 2, "new_category_week": 1}
DAG_FILES = ("pipelines.py", "monitoring.py", "feedback.py")


def season_environment(root: Path) -> dict[str, str]:
    """Airflow in root/airflow_home with the project's DAG files, every PIPELINE_* under root."""
    dags = root / "dags"
    dags.mkdir()
    for name in DAG_FILES:
        (dags / name).symlink_to(airflow_server.DAGS_FOLDER / name)
    environ = {key: value for key, value in os.environ.items() if not key.startswith("PIPELINE_")}
    env = airflow_server.airflow_environment(root / "airflow_home", dags, {
        **environ,
        "PIPELINE_STATE_DIR": str(root / "state"), "PIPELINE_PROJECT": "season",
        "PIPELINE_MODELS_DIR": str(root / "models"),
        "PIPELINE_METADATA_PATH": str(root / "metadata.sqlite"),
        "PIPELINE_PIPELINE_ROOT": str(root / "pipeline"), "PIPELINE_SERVING_DIR": str(root / "serving"),
        "PIPELINE_LOG_DIR": str(root / "logs"), "PIPELINE_SPANS": "last-2",
        "PIPELINE_EVAL_STEPS": "5", "PIPELINE_TRACKING_URI": "off",
        "PIPELINE_AIRFLOW_SCHEDULE": "none", "PIPELINE_AIRFLOW_RETRIES": "0",
        "PIPELINE_AIRFLOW_SERVING_CONFIG_ROOT": str(root / "serving-config"),
        "PIPELINE_MONITOR_REQUESTS_FILE": str(root / "requests" / "latest.csv"),
        "PIPELINE_MONITOR_STATE_DIR": str(root / "monitoring"),
        "PIPELINE_MONITOR_PYTHON": sys.executable, "PIPELINE_FEEDBACK_PYTHON": sys.executable,
        "PIPELINE_FEEDBACK_LABELS": str(root / "labels"),
        "PIPELINE_FEEDBACK_STATE_DIR": str(root / "feedback-dag"),
        "PYTHONPATH": str(PROJECT_ROOT),
    })
    (root / "airflow_home").mkdir()
    airflow_server.airflow_cli(env, "db", "migrate")
    return env


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The season, played once by the driver in its own process."""
    root = tmp_path_factory.mktemp("airflow_season")
    env = season_environment(root)
    spec = {"root": str(root), "dags": str(root / "dags"), "plan": PLAN, "first_steps": "200",
            "steps": "400", "min_labelled_rows": 100, "result": str(root / "result.json")}
    (root / "spec.json").write_text(json.dumps(spec))
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "tests.support.airflow_season", str(root / "spec.json")],
                          env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=3600)
    (root / "driver.log").write_text(done.stdout + done.stderr)
    result = json.loads((root / "result.json").read_text())
    print(f"\nAirflow season in {time.monotonic() - started:.0f} s ({root}):")
    for step in result["steps"]:
        print(f"  week {step['week']}  {step['step']:18} "
              + (f"{step['state']} {step['tasks']} queued={step['queued']}" if "state" in step
                 else f"exit {step['code']}"))
    print(f"  runs {result.get('runs')}\n  labels {result.get('labels')}")
    assert result["error"] is None, result["error"] + done.stderr[-3000:]
    yield result


def steps(result: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [step for step in result["steps"] if step["step"] == name]


def test_the_first_model_is_trained_by_hand_and_serves_stable(played) -> None:
    [first, *_] = steps(played, "pipeline")
    assert first["state"] == "success", first["tasks"]
    assert first["tasks"]["canary_label"] == "success"  # the first version serves as stable
    assert played["runs"][0]["reason"] == "by hand" and played["runs"][0]["pushed"] == "1"


def test_the_clean_week_neither_alerts_nor_triggers(played) -> None:
    clean = [step for step in steps(played, "monitoring") if step["week"] < PLAN["shift_from"]]
    assert clean and all(step["state"] == "success" for step in clean), clean
    assert all(step["tasks"]["trigger_retraining"] == "skipped" for step in clean)
    assert all(step["queued"] == [] for step in clean)


def test_the_shift_triggers_a_run_that_records_its_reason_and_labels_a_canary(played) -> None:
    [shifted] = [s for s in steps(played, "monitoring") if s["week"] == PLAN["shift_from"]]
    assert shifted["state"] == "failed" and shifted["tasks"]["alert"] == "failed"  # the alert
    assert shifted["tasks"]["trigger_retraining"] == "success"
    [reason] = [conf["reason"] for conf in shifted["queued"]
                if conf["reason"].startswith("drift alert: ")]
    [retrained] = steps(played, "triggered pipeline")
    assert retrained["state"] == "success", retrained["tasks"]
    assert retrained["conf"] == {"reason": reason}
    assert retrained["tasks"]["canary_label"] == "success"
    run = next(r for r in played["runs"] if r["run_id"] == f"season.{retrained['run_id']}")
    assert run["reason"] == reason and run["pushed"] == "2"


def test_feedback_measures_each_week_and_promote_moves_stable_to_the_proven_canary(played) -> None:
    fed = steps(played, "feedback")
    assert len(fed) == PLAN["weeks"]
    assert all(step["tasks"]["feed_labels"] == "success" for step in fed), fed
    # Before the canary scored enough rows: a refusal for lack of evidence, not a failure.
    promotions = [step["tasks"]["promote_canary"] for step in fed]
    assert promotions[0] == "skipped"  # no canary yet
    assert "failed" not in promotions, promotions
    assert promotions[-1] == "success"
    assert played["labels"]["stable"] == 2 and "canary" not in played["labels"]
