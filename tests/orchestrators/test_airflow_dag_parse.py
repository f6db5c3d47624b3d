"""Airflow parses the DAG file every few minutes and in every task's process: parsing must not
hash data nor run git. RecordRunContext's parameter is a template that computes the run's manifest
once, when that task runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pipeline.config import PROJECT_ROOT
from pipeline.services import airflow_server

PARSE_AND_RENDER = r'''
import json, subprocess, sys, time

from airflow.models import DagBag

from pipeline.config import config_from_values, env_values
from pipeline.data import fingerprints, spans
from pipeline.config.record import config_record
from pipeline.run import manifest
import os

calls = []
hashed = []

def refuse(name):
    def refused(*args, **kwargs):
        calls.append(name)
        raise AssertionError(f"DAG parse called {name}")
    return refused

def no_git(name, real):
    """Imports of Airflow and TF run `uname` and `file`: only git is refused."""
    def guarded(command, *args, **kwargs):
        argv = [command] if isinstance(command, str) else list(command)
        if argv and "git" in str(argv[0]).split("/")[-1].split():
            calls.append(f"{name}({argv})")
            raise AssertionError(f"DAG parse ran {argv}")
        return real(command, *args, **kwargs)
    return guarded

def recorded(real):
    def hash_file(digest, path, *args):
        hashed.append(str(path))
        return real(digest, path, *args)
    return hash_file

stand_ins = {
    (fingerprints, "data_fingerprint"): refuse("fingerprints.data_fingerprint"),
    (fingerprints, "update_with_file"): recorded(fingerprints.update_with_file),
    (manifest, "compute"): refuse("manifest.compute"),
    (manifest, "git_commit"): refuse("manifest.git_commit"),
    (manifest, "lock_sha256"): refuse("manifest.lock_sha256"),
    (manifest, "package_versions"): refuse("manifest.package_versions"),
}
for name in ("run", "check_output", "Popen", "call", "check_call"):
    stand_ins[(subprocess, name)] = no_git(f"subprocess.{name}", getattr(subprocess, name))
saved = {key: getattr(*key) for key in stand_ins}
for (module, name), value in stand_ins.items():
    setattr(module, name, value)

started = time.monotonic()
bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
seconds = time.monotonic() - started
for (module, name), value in saved.items():
    setattr(module, name, value)
assert not bag.import_errors, bag.import_errors
assert not calls, calls
data_files = [f for f in hashed if f.endswith(".csv") or "/data/sample/" in f]
assert hashed and not data_files, data_files

config = spans.with_beam_mode_for_input(config_from_values(env_values(os.environ)))
dag = bag.dags[config.pipeline_name]
task = dag.get_task("RecordRunContext")
parsed = task.op_kwargs["exec_properties"]
rendered = task.render_template(parsed, {}, jinja_env=dag.get_template_env())
expected = manifest.compute(config).run_context_json(config_record(config))
print(json.dumps({
    "seconds": seconds, "parsed": parsed["context"], "rendered": rendered["context"],
    "expected": expected, "tasks": sorted(dag.task_ids),
    "sync": {"upstream": sorted(dag.get_task("mlflow_sync").upstream_task_ids),
             "leaves": sorted(t.task_id for t in dag.tasks if not t.downstream_list),
             "teardown": dag.get_task("mlflow_sync").is_teardown,
             "trigger_rule": str(dag.get_task("mlflow_sync").trigger_rule)},
}))
'''


def test_parsing_the_dag_hashes_no_data_and_runs_no_git(tmp_path: Path) -> None:
    pipeline_env = {
        "PIPELINE_DATA_DIR": str(PROJECT_ROOT / "data" / "sample"),
        "PIPELINE_PIPELINE_ROOT": str(tmp_path / "pipeline_root"),
        "PIPELINE_METADATA_PATH": str(tmp_path / "metadata" / "metadata.sqlite"),
        "PIPELINE_SERVING_DIR": str(tmp_path / "serving_model"),
        "PIPELINE_LOG_DIR": str(tmp_path / "logs"),
    }
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
    env = airflow_server.airflow_environment(
        tmp_path / "airflow_home", airflow_server.DAGS_FOLDER, {**environ, **pipeline_env}
    )
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    done = subprocess.run(
        [sys.executable, "-c", PARSE_AND_RENDER, str(airflow_server.DAGS_FOLDER / "pipelines.py")],
        env=env, capture_output=True, text=True, timeout=600, cwd=PROJECT_ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "RecordRunContext" in result["tasks"] and "CsvExampleGen" in result["tasks"]
    assert "{{" in result["parsed"] and "data_fingerprint" not in result["parsed"]
    rendered, expected = json.loads(result["rendered"]), json.loads(result["expected"])
    assert rendered["data_fingerprint"] == expected["data_fingerprint"]
    assert rendered == expected
    assert not (tmp_path / "pipeline_root").exists()
    # The last task mirrors every run into MLflow, failed ones too, as a teardown: the DAG run's
    # state stays that of the pipeline's tasks.
    sync = result["sync"]
    assert sync["leaves"] == ["mlflow_sync"] and "ServingPusher" in sync["upstream"]
    assert sync["teardown"] and sync["trigger_rule"] == "all_done_setup_success"
