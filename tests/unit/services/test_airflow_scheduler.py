"""The scheduler `python -m pipeline airflow` starts: libraries preloaded only where tasks are
forked from it, and a preload that would start a thread before forking is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT
from pipeline.services import airflow_server
from pipeline.services.airflow_scheduler import PreloadError, preload

PRELOADING = (sys.executable, "-m", "pipeline.services.airflow_scheduler")
SERVER_URL = "postgresql://airflow@127.0.0.1:5432/airflow"


def _module(folder: Path, name: str, body: str) -> str:
    """A module named `name` with `body` in a folder already on sys.path."""
    (folder / f"{name}.py").write_text(body)
    return name


@pytest.mark.parametrize(("environ", "preload", "program"), [
    ({}, True, PRELOADING),
    ({}, False, ("airflow",)),
    ({"AIRFLOW__CORE__EXECUTE_TASKS_NEW_PYTHON_INTERPRETER": "True"}, True, ("airflow",)),
    ({"AIRFLOW__CORE__EXECUTOR": "CeleryExecutor"}, True, ("airflow",)),
])
def test_scheduler_preloads_only_when_the_executor_forks_tasks_from_it(
    tmp_path: Path, environ: dict[str, str], preload: bool, program: tuple[str, ...]
) -> None:
    """LocalExecutor forking tasks (the command's default): preload; tasks in new interpreters,
    Celery workers or --no-preload: plain `airflow scheduler`."""
    env = airflow_server.airflow_environment(tmp_path, tmp_path, environ, SERVER_URL)
    assert airflow_server.scheduler_program(env, preload) == program


def test_preload_imports_the_modules(tmp_path: Path, monkeypatch) -> None:
    """The named modules are in sys.modules afterwards, as a forked task will find them."""
    monkeypatch.syspath_prepend(str(tmp_path))
    name = _module(tmp_path, "preload_quiet", "VALUE = 42\n")
    monkeypatch.delitem(sys.modules, name, raising=False)
    assert preload([name]) >= 0
    assert sys.modules[name].VALUE == 42


def test_preload_refuses_a_module_that_starts_a_thread(tmp_path: Path, monkeypatch) -> None:
    """A thread started before the fork would be missing in every task: name it and stop."""
    monkeypatch.syspath_prepend(str(tmp_path))
    name = _module(tmp_path, "preload_threaded", (
        "import threading\n"
        "STOP = threading.Event()\n"
        "threading.Thread(target=STOP.wait, name='pool-worker', daemon=True).start()\n"))
    monkeypatch.delitem(sys.modules, name, raising=False)
    try:
        with pytest.raises(PreloadError, match="pool-worker"):
            preload([name])
    finally:
        sys.modules[name].STOP.set()


@pytest.mark.slow
def test_the_scheduler_preload_imports_no_catalogue_and_keeps_no_project_module() -> None:
    """The real list in a fresh interpreter: TFX's component modules without `tfx.v1` or the
    `tfx.components` catalogue (Kubernetes and Vertex AI clients), and no pipeline/ or models/
    module left for a forked task to inherit stale."""
    probe = (
        "import sys\n"
        "from pipeline.services.airflow_scheduler import PRELOADED, prepare_for_forking\n"
        "prepare_for_forking()\n"
        "from tfx.components.transform.component import Transform\n"
        "import tfx.components\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pipeline', 'models')))\n"
        "print('tfx.v1' in sys.modules, 'kubernetes' in sys.modules,\n"
        "      hasattr(tfx.components, 'InfraValidator'), all(m in sys.modules for m in PRELOADED))\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=600, env={**os.environ, "TF_USE_LEGACY_KERAS": "1"},
                            cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    kept, flags = result.stdout.splitlines()[-2:]
    assert kept == "['pipeline', 'pipeline.services', 'pipeline.services.airflow_scheduler']"
    assert flags == "False False False True"
