"""`airflow scheduler` with TensorFlow, TFX and Beam imported first, as `python -m pipeline airflow`
starts it.

The LocalExecutor forks every task from the scheduler (Airflow's default
`core.execute_tasks_new_python_interpreter=False`): its worker processes are forked when the
executor starts, and each task is forked from a worker. Imported here, before Airflow starts, these
libraries are inherited by every task and every DAG-file parse instead of being imported again
(tens of seconds each on 2 cores). Only third-party libraries are preloaded: this project's
`pipeline/` and the user's `models/` are imported by each task itself, so an edit to them reaches
the next task without a restart (an upgrade of the libraries needs one, as for Airflow itself).

Importing them starts no TensorFlow op, session or thread pool; `preload` checks that no Python
thread appeared, since a fork keeps only the thread that forks.
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from collections.abc import Sequence

from pipeline import environment

# What the DAG file's graph and the components' executors import: TFX's component modules import
# their executors, and those TensorFlow, Beam, TFDV, Transform and TFMA; the Trainer's run_fn
# tf_keras. Never `tfx.v1` nor the `tfx.components` catalogue's __init__ (every component and
# extension, the Kubernetes and Vertex AI clients): the local runner skips them too.
PRELOADED = (
    "tensorflow",
    "tf_keras",
    "apache_beam",
    "tensorflow_data_validation",
    "tensorflow_transform.beam",
    "tensorflow_model_analysis",
    "tfx.components.example_gen.csv_example_gen.component",
    "tfx.components.statistics_gen.component",
    "tfx.components.schema_gen.component",
    "tfx.components.schema_gen.import_schema_gen.component",
    "tfx.components.transform.component",
    "tfx.components.trainer.component",
    "tfx.components.evaluator.component",
    "tfx.components.pusher.component",
    "tfx.orchestration.airflow.airflow_dag_runner",
)


class PreloadError(RuntimeError):
    """Importing a preloaded library started a thread: forking tasks after it would be unsafe."""


def preload(modules: Sequence[str] = PRELOADED) -> float:
    """Import the libraries every task needs; the seconds it took."""
    started = time.monotonic()
    threads = {thread.ident for thread in threading.enumerate()}
    for name in modules:
        importlib.import_module(name)
    new = [thread.name for thread in threading.enumerate() if thread.ident not in threads]
    if new:
        raise PreloadError(f"importing {', '.join(modules)} started threads {new}: tasks "
                           "forked from the scheduler would lose them")
    return time.monotonic() - started


def prepare_for_forking() -> float:
    """The scheduler's preload, leaving only third-party libraries for tasks to inherit."""
    environment.skip_package_init()
    seconds = preload()
    _forget_project_modules()
    return seconds


def _forget_project_modules() -> None:
    """Drop this project's modules the preload imported, so each forked task imports the
    current pipeline/ and models/ (this module and its packages stay: they are running)."""
    running = {"pipeline", "pipeline.services", __name__}
    for name in [n for n in sys.modules if n.split(".")[0] in ("pipeline", "models")]:
        if name not in running:
            del sys.modules[name]


def main(argv: Sequence[str]) -> None:
    """Preload, then run Airflow's CLI with `argv` (e.g. ["scheduler"]) in this process."""
    seconds = prepare_for_forking()
    print(f"preloaded {', '.join(PRELOADED)} in {seconds:.1f} s before the scheduler starts "
          "forking tasks", flush=True)
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", *argv]
    airflow_main()


if __name__ == "__main__":
    main(sys.argv[1:] or ["scheduler"])
