"""The monitoring DAG is named after the project it monitors and passes the project on."""

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

out = {}
for name, environ in {
    "default": {},
    "pipeline_project": {"PIPELINE_PROJECT": "penguins"},
    "monitor_project": {"PIPELINE_PROJECT": "penguins", "PIPELINE_MONITOR_PROJECT": "churn"},
}.items():
    settings = monitor_dag.settings_from_env(environ)
    dag = monitor_dag.create_monitor_dag(settings)
    out[name] = [dag.dag_id, dag.get_task("monitor_requests").bash_command]
print(json.dumps(out))
'''


def test_monitor_dag_id_and_command_follow_the_project(tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")},
           "AIRFLOW_HOME": str(tmp_path / "airflow"), "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run([sys.executable, "-c", CASES], env=env, capture_output=True, text=True,
                          timeout=300, cwd=PROJECT_ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert {name: dag_id for name, (dag_id, _) in found.items()} == {
        "default": "taxi_monitoring", "pipeline_project": "penguins_monitoring",
        "monitor_project": "churn_monitoring"}
    command = found["monitor_project"][1]
    assert "--project churn" in command
    assert str(Path("state") / "requests" / "churn" / "latest.csv") in command
    assert "--state-dir" not in command  # the command's default: state/monitoring/<project>
