"""Where do runs of the same config stop being identical? Compare the latest run in several folders.

    python -m pipeline run ... --pipeline-root R1/pipeline_root --metadata R1/metadata.sqlite ...
    (the same config again into R2, R3, ...)
    python -m tools.determinism R1 R2 R3

Each folder holds a `metadata.sqlite`. Every later run is compared with the first, stage by stage:
ExampleGen examples, Transform's transformed examples, the Trainer's weights and training log, the
Evaluator's metrics; one line per stage gives the largest difference found over all runs, and the
first stage that moved is named. Numbers for docs/continuous_training.md (Reproducibility).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config.project import Tolerance
from pipeline.run import reproduce
from pipeline.vocabulary import MODEL_KEY, MODEL_RUN_KEY, TRAINER, TRAINING_LOG_FILE

EXACT = Tolerance()


@dataclass(frozen=True)
class Outputs:
    """The latest run's outputs in one folder: reproduce's run outputs, the weights, the training log."""

    recorded: dict[str, Any]
    weights: dict[str, list[float]]
    training_log: dict[str, list[float]]


def weights(model_uri: str) -> dict[str, list[float]]:
    """Every float variable of the exported model's checkpoint, flattened."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(f"{model_uri}/Format-Serving/variables/variables")
    dtypes = reader.get_variable_to_dtype_map()
    return {name: [float(v) for v in reader.get_tensor(name).ravel()]
            for name in sorted(dtypes) if dtypes[name].is_floating}


def training_log(model_run_uri: str) -> dict[str, list[float]]:
    """training_log.json's losses and metrics, one number each."""
    log = json.loads((Path(model_run_uri) / TRAINING_LOG_FILE).read_text())
    flat = {f"train_loss@{step}": [float(loss)] for step, loss in log["train_loss"]}
    flat["eval_loss"] = [float(log["eval_loss"])]
    flat.update({f"eval_{k}": [float(v)] for k, v in log["eval_metrics"].items()})
    return flat


def outputs(folder: Path) -> Outputs:
    """What the latest run in `folder` (its metadata.sqlite) produced."""
    from pipeline.config import PipelineConfig
    from pipeline.metadata import connection, records

    config = PipelineConfig(metadata_path=folder / "metadata.sqlite",
                            pipeline_root=folder / "pipeline_root")
    store = connection.open_metadata(config)
    run_id = records.latest_run_id(store, config.pipeline_name)
    trainer = {c.node_id: c for c in records.component_runs(store, run_id)}[TRAINER]
    return Outputs(reproduce.run_outputs(store, run_id), weights(trainer.outputs[MODEL_KEY][0].uri),
                   training_log(trainer.outputs[MODEL_RUN_KEY][0].uri))


def _numbers(name: str, old: dict[str, list[float]], new: dict[str, list[float]]) -> reproduce.Compared:
    result = reproduce.Compared(name, EXACT)
    if sorted(old) != sorted(new):
        result.problem = "different names"
    for key in sorted(set(old) & set(new)):
        for a, b in zip(old[key], new[key], strict=True):
            result.add(a, b, key)
    return result


def _metrics(recorded: dict[str, Any]) -> dict[str, list[float]]:
    return {k: [v] for k, v in reproduce.own_metrics(recorded["metrics"]).items()}


def compare(first: Outputs, other: Outputs) -> list[reproduce.Compared]:
    """Every stage of `other` against `first`, exactly, in pipeline order."""
    results = [reproduce.compare_examples(name, first.recorded[name], other.recorded[name], EXACT)
               for name in first.recorded if name != "metrics"]
    return [*results, _numbers("Trainer weights", first.weights, other.weights),
            _numbers(f"{TRAINER} {TRAINING_LOG_FILE}", first.training_log, other.training_log),
            _numbers("Evaluator metrics", _metrics(first.recorded), _metrics(other.recorded))]


def _line(result: reproduce.Compared) -> str:
    where = f" ({result.where})" if result.where else ""
    return f"{result.problem or f'{result.largest:.3g}'}{where}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="run folders, each with metadata.sqlite")
    folders = parser.parse_args(argv).folders
    if len(folders) < 2:
        parser.error("give at least two run folders")
    runs = [outputs(folder) for folder in folders]
    worst: dict[str, reproduce.Compared] = {}
    for index, other in enumerate(runs[1:], start=2):
        for result in compare(runs[0], other):
            print(f"run 1 vs {index}: {result.name}: largest difference {_line(result)}")
            if result.name not in worst or result.largest > worst[result.name].largest or result.problem:
                worst[result.name] = result
    print(f"\nlargest difference per stage over {len(runs)} runs:")
    for name, result in worst.items():
        print(f"  {name:40s} {_line(result)}")
    moved = [name for name, result in worst.items() if not result.exact]
    print(f"first stage that differs: {moved[0] if moved else 'none (all identical)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
