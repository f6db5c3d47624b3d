"""No secret written anywhere: the commands that log and record (a run against a failing
metadata server, compile-kfp, the Airflow DAG) with hostile passwords and credential Beam
options; every file they write and everything they print is searched for the secret in each
escaping (raw, repr, JSON, URL-encoded, protobuf text, its unique core)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.__main__ import main
from pipeline.config import PROJECT_ROOT
from pipeline.services import airflow_server
from tests.support.configs import SAMPLE_DATA
from tests.support.secrets import HOSTILE_PASSWORDS, core, leaks, leaks_in_files

pytestmark = [pytest.mark.slow, pytest.mark.orchestrator]

# Quotes and backslash; non-ASCII; logger and format escapes: each escapes differently.
PASSWORDS = (HOSTILE_PASSWORDS[0], HOSTILE_PASSWORDS[2], HOSTILE_PASSWORDS[3])
# The run imports TensorFlow and waits out TFX's ten connection attempts: one run, with one
# password holding every kind of character above (tests/unit/test_secrets.py sends all ten
# hostile passwords through the same log calls).
RUN_PASSWORD = "Qx7core11'\"\\ é€日 %s%(x)s{0} $HOME\t`id`"


def beam_args(secret: str) -> str:
    """--beam-args text carrying the secret in credential options (shell-quoted)."""
    quoted = "'" + secret.replace("'", "'\"'\"'") + "'"
    return f"--s3_secret_access_key={quoted} --aws_session_token {quoted} --project=demo"


# Greets like a MySQL server (so the probe passes), then hangs up: MLMD fails inside TFX, after
# LocalDagRunner has logged its deployment config. A separate process: MLMD's client holds the GIL
# while it connects, so a server thread in this process would never answer.
GREET_THEN_HANG_UP = r'''
import socket, sys
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(16)
print(server.getsockname()[1], flush=True)
while True:
    conn, _ = server.accept()
    conn.sendall(b"\x03\x00\x00\x00\x0aX\x00")
    conn.close()
'''


@pytest.fixture(scope="module")
def failing_server() -> Iterator[int]:
    """The port of a server process that greets and hangs up."""
    server = subprocess.Popen([sys.executable, "-c", GREET_THEN_HANG_UP], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert server.stdout is not None
        yield int(server.stdout.readline())
    finally:
        server.kill()
        server.wait()


def _run_flags(tmp_path: Path, port: int) -> list[str]:
    """A small run whose metadata is on the failing server, everything written under tmp_path."""
    return ["--data", str(SAMPLE_DATA), "--pipeline-root", str(tmp_path / "root"),
            "--serving-dir", str(tmp_path / "serving"), "--log-dir", str(tmp_path / "logs"),
            "--metadata", str(tmp_path / "metadata.sqlite"), "--train-steps", "5",
            "--metadata-backend", "mysql", "--metadata-host", "127.0.0.1", "--metadata-port",
            str(port), "--metadata-user", "tfx"]


def test_a_run_on_a_failing_server_writes_no_secret(
    tmp_path: Path, failing_server: int, monkeypatch, capfd
) -> None:
    secret = RUN_PASSWORD
    monkeypatch.setenv("PIPELINE_METADATA_PASSWORD", secret)
    code = main(["run", "--force", *_run_flags(tmp_path, failing_server),
                 f"--beam-args={beam_args(secret)}"])
    out, err = capfd.readouterr()
    assert code == 1, err
    assert err.startswith("error: ") and "Traceback" not in err
    assert leaks(out + err, secret) == []
    assert leaks_in_files(secret, tmp_path) == {}
    # The store does not open at the check that it owns the run's folders, before any component:
    # ML Metadata's own lines are in that check's log (0600), the console has one error line.
    [log] = (tmp_path / "logs").glob("*.log")
    assert log.name == "store-check.log" and "mysql" in log.read_text().lower()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert "beam        --direct_running_mode=in_memory --s3_secret_access_key=****" in out


@pytest.mark.parametrize("secret", PASSWORDS, ids=core)
def test_compile_kfp_writes_no_secret(tmp_path: Path, secret: str, monkeypatch, capfd) -> None:
    monkeypatch.setenv("PIPELINE_METADATA_PASSWORD", secret)
    output = tmp_path / "spec.json"
    code = main(["compile-kfp", "--output", str(output), "--data", str(SAMPLE_DATA),
                 "--allow-local-paths", "--serving-dir", "gs://demo-bucket/serving",
                 "--pipeline-root", "gs://demo-bucket/root", "--metadata-backend", "mysql",
                 "--metadata-user", "tfx"])
    out, err = capfd.readouterr()
    assert code == 0, err
    assert json.loads(output.read_text())["pipelineSpec"]["root"]["dag"]["tasks"]
    assert leaks(out + err, secret) == [] and leaks_in_files(secret, tmp_path) == {}


BUILD_AND_SERIALIZE = r'''
import json, os, sys
from airflow.serialization.serialized_objects import SerializedDAG
from pipeline.run.airflow_dag import build_dags

for secret in json.loads(sys.argv[1]):
    environ = {**os.environ, "PIPELINE_METADATA_PASSWORD": secret}
    quoted = "'" + secret.replace("'", "'\"'\"'") + "'"
    environ["PIPELINE_EXTRA_BEAM_ARGS"] = f"--s3_secret_access_key={quoted} --project=demo"
    for dag in build_dags(environ).values():
        task = dag.get_task("RecordRunContext")
        rendered = task.render_template(task.op_kwargs["exec_properties"], {},
                                        jinja_env=dag.get_template_env())
        print(json.dumps({"serialized": SerializedDAG.to_json(dag),
                          "rendered": rendered["context"]}))
'''


def test_the_airflow_dag_and_its_rendered_run_context_hold_no_secret(tmp_path: Path) -> None:
    pipeline_env = {
        "PIPELINE_PROJECT": "taxi", "PIPELINE_DATA_DIR": str(SAMPLE_DATA),
        "PIPELINE_PIPELINE_ROOT": str(tmp_path / "root"),
        "PIPELINE_SERVING_DIR": str(tmp_path / "serving"), "PIPELINE_LOG_DIR": str(tmp_path / "logs"),
        "PIPELINE_METADATA_BACKEND": "mysql", "PIPELINE_METADATA_USER": "tfx",
    }
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
    env = airflow_server.airflow_environment(
        tmp_path / "airflow_home", airflow_server.DAGS_FOLDER, {**environ, **pipeline_env})
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    done = subprocess.run([sys.executable, "-c", BUILD_AND_SERIALIZE, json.dumps(PASSWORDS)],
                          env=env, capture_output=True, text=True, timeout=600, cwd=PROJECT_ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(results) == len(PASSWORDS)
    for secret, result in zip(PASSWORDS, results, strict=True):
        context = json.loads(result["rendered"])
        assert "--s3_secret_access_key=****" in context["config"]["extra_beam_args"]
        assert leaks(result["serialized"] + result["rendered"], secret) == []
        assert leaks(done.stdout + done.stderr, secret) == []
        assert leaks_in_files(secret, tmp_path) == {}
