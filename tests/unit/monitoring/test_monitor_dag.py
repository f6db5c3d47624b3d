"""The loop's DAGs: the monitoring DAG and the feedback DAG are named after their project, pass
it on, and branch to the project's pipeline DAG (a TriggerDagRunOperator with the reason in its
conf) and to an alert task; the feedback DAG promotes after feeding labels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pipeline.config import PROJECT_ROOT

CASES = '''
import json
from pipeline.monitoring import monitor_dag
from pipeline.scoring import feedback_dag

def shape(dag):
    return {task.task_id: sorted(task.downstream_task_ids) for task in dag.tasks}

out = {}
for name, environ in {
    "default": {},
    "pipeline_project": {"PIPELINE_PROJECT": "penguins"},
    "monitor_project": {"PIPELINE_PROJECT": "penguins", "PIPELINE_MONITOR_PROJECT": "churn",
                        "PIPELINE_FEEDBACK_PROJECT": "churn", "PIPELINE_PIPELINE_NAME": "churn_v2",
                        "PIPELINE_AIRFLOW_SERVING_CONFIG_ROOT": "/srv/configs"},
}.items():
    settings = monitor_dag.settings_from_env(environ)
    dag = monitor_dag.create_monitor_dag(settings)
    trigger = dag.get_task("trigger_retraining")
    feedback = feedback_dag.create_feedback_dag(feedback_dag.settings_from_env(environ))
    out[name] = {"dag_id": dag.dag_id, "arguments": monitor_dag.monitor_arguments(settings),
                 "shape": shape(dag), "trigger": [trigger.trigger_dag_id, trigger.conf],
                 "feedback": [feedback.dag_id, shape(feedback),
                              feedback.get_task("trigger_retraining").trigger_dag_id],
                 "alerting": sorted(t.task_id for t in [*dag.tasks, *feedback.tasks]
                                    if t.on_failure_callback is None)}
print(json.dumps(out))
'''


def _built(tmp_path: Path) -> dict:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")},
           "AIRFLOW_HOME": str(tmp_path / "airflow"), "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run([sys.executable, "-c", CASES], env=env, capture_output=True, text=True,
                          timeout=300, cwd=PROJECT_ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_loop_dags_follow_the_project_and_branch_to_retraining_and_alerts(tmp_path: Path) -> None:
    found = _built(tmp_path)
    assert {name: case["dag_id"] for name, case in found.items()} == {
        "default": "taxi_monitoring", "pipeline_project": "penguins_monitoring",
        "monitor_project": "churn_monitoring"}
    arguments = found["monitor_project"]["arguments"]
    assert [arguments[0], *arguments[2:5]] == ["monitor", "--project", "churn", "--json"]
    assert arguments[1].endswith(str(Path("requests") / "churn" / "latest.csv"))
    assert "--state-dir" not in arguments  # the command's default: state/monitoring/<project>
    # Every loop DAG reads the stable label where the pipeline DAG's canary task writes it.
    assert arguments[arguments.index("--serving-config-dir") + 1] == "/srv/configs/churn"
    assert found["default"]["arguments"][-1].endswith(str(Path("serving_config") / "taxi"))
    assert found["default"]["shape"] == {
        "monitor_requests": ["alert", "retraining_decision"], "alert": [],
        "retraining_decision": ["trigger_retraining"], "trigger_retraining": []}
    assert found["default"]["trigger"] == [
        "taxi", {"reason": "{{ ti.xcom_pull(task_ids='retraining_decision') }}"}]
    assert found["monitor_project"]["trigger"][0] == "churn_v2"  # PIPELINE_PIPELINE_NAME's DAG
    dag_id, shape, triggered = found["monitor_project"]["feedback"]
    assert (dag_id, triggered) == ("churn_feedback", "churn_v2")
    assert shape == {"feed_labels": ["alert", "promote_canary", "retraining_decision"],
                     "alert": [], "promote_canary": [], "retraining_decision": ["trigger_retraining"],
                     "trigger_retraining": []}
    assert found["default"]["alerting"] == []  # every task alerts on failure
