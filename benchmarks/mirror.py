"""Sync time of the MLflow mirror for 1 and for 50 runs: `python -m benchmarks.mirror [RUNS...]`.

The runs are synthesized in a scratch ML Metadata store with tests/support/mlmd_fake (each trained,
evaluated with recorded metrics, pushed as its own version: the records a local run leaves),
which costs milliseconds instead of one pipeline run each. Their evaluations hold no TFMA output,
so per-slice metrics (read through TFMA for a real run) are not part of these numbers.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from pipeline.mirror.run_view import no_slices
from pipeline.mirror.sync import sync
from tests.support.configs import small_config
from tests.support.mlflow_store import empty_store
from tests.support.mlmd_fake import evaluated_and_pushed_runs


def measure(runs: int, root: Path) -> dict[str, float]:
    """Seconds of a first sync (store schema made beforehand) and of a second, no-op one."""
    config = small_config(root)
    evaluated_and_pushed_runs(config.metadata_path, root, runs=runs)
    settings = empty_store(root / "mlflow")
    models_config = root / "serving" / "models.config"
    started = time.monotonic()
    first = sync(config, settings, models_config, slices=no_slices)
    middle = time.monotonic()
    second = sync(config, settings, models_config, slices=no_slices)
    assert len(first.added) == runs and not second.added and not second.versions_added
    return {"runs": runs, "first_sync_s": round(middle - started, 2),
            "second_sync_s": round(time.monotonic() - middle, 2)}


def main(argv: list[str]) -> None:
    """Print one JSON line per run count."""
    started = time.monotonic()
    empty_store(Path(tempfile.mkdtemp()) / "warm")  # MLflow's schema, once, not counted per size
    print(json.dumps({"schema_creation_s": round(time.monotonic() - started, 2)}))
    for runs in [int(a) for a in argv] or [1, 50]:
        print(json.dumps(measure(runs, Path(tempfile.mkdtemp(prefix=f"mirror-{runs}-")))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
