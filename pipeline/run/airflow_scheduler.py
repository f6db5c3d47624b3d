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

# What the DAG file's graph and the components' executors import: TFX's components import their
# executors, and those TensorFlow, Beam, TFDV, Transform and TFMA; the Trainer's run_fn tf_keras.
PRELOADED = (
    "tensorflow",
    "tf_keras",
    "apache_beam",
    "tensorflow_data_validation",
    "tensorflow_transform.beam",
    "tensorflow_model_analysis",
    "tfx.v1",
    "tfx.components",
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


def main(argv: Sequence[str]) -> None:
    """Preload, then run Airflow's CLI with `argv` (e.g. ["scheduler"]) in this process."""
    seconds = preload()
    print(f"preloaded {', '.join(PRELOADED)} in {seconds:.1f} s before the scheduler starts "
          "forking tasks", flush=True)
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", *argv]
    airflow_main()


if __name__ == "__main__":
    main(sys.argv[1:] or ["scheduler"])
