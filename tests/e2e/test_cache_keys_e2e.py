"""Only what changed re-runs: one cold run, a forced re-run, then model code, preprocessing and a
threshold edited in turn in a copy of the taxi project; which components ran is read from ML Metadata."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from pipeline.config import PROJECT_ROOT, PipelineConfig
from pipeline.metadata import connection, records
from pipeline.metadata.provenance import BASELINE_SKIPPED, run_provenance
from pipeline.serving import layout
from pipeline.vocabulary import BLESSING_REUSED_EVALUATION
from tests.support.configs import small_config

pytestmark = pytest.mark.e2e

INGESTION = ("CsvExampleGen", "StatisticsGen", "ImportCuratedSchema", "ExampleValidator", "DataGate")
TRAINING = ("Transform", "Trainer")
DOWNSTREAM = ("Evaluator", "ServingPusher")
EVERY = (*INGESTION, *TRAINING, *DOWNSTREAM)


def copied_code(root: Path) -> Path:
    """A copy of models/ (user code and declarations) under `root`, without caches."""
    models = root / "models"
    shutil.copytree(PROJECT_ROOT / "models", models, ignore=shutil.ignore_patterns("__pycache__"))
    return models


@pytest.fixture()
def own_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The copy first on sys.path, so TFX imports it and the cache keys hash it; the process's own
    `models` modules put back afterwards."""
    models = copied_code(tmp_path / "code")
    saved: dict[str, ModuleType] = {
        name: module for name, module in sys.modules.items()
        if name == "models" or name.startswith("models.")}
    for name in saved:
        del sys.modules[name]
    monkeypatch.syspath_prepend(str(models.parent))
    yield models
    for name in [n for n in sys.modules if n == "models" or n.startswith("models.")]:
        del sys.modules[name]
    sys.modules.update(saved)


def states(config: PipelineConfig, force: bool = False) -> dict[str, str]:
    """Run the pipeline; each component's execution state in that run, read from ML Metadata."""
    from pipeline.run.local_runner import run_pipeline

    result = run_pipeline(config, reuse_unchanged=not force)
    assert not result.reused
    store = connection.open_metadata(config)
    runs = {c.node_id: c.state for c in records.component_runs(store, result.summary.run_id)}
    return {node: runs[node] for node in EVERY}


def expect(complete: tuple[str, ...]) -> dict[str, str]:
    """Every component CACHED except `complete`."""
    return {node: "COMPLETE" if node in complete else "CACHED" for node in EVERY}


def blessing(config: PipelineConfig) -> dict[str, object]:
    """Custom properties of the latest run's blessing."""
    store = connection.open_metadata(config)
    run = records.latest_run_id(store, config.pipeline_name)
    evaluator = next(c for c in records.component_runs(store, run) if c.node_id == "Evaluator")
    artifact = evaluator.outputs["blessing"][0]
    return {name: records.custom_property(artifact, name) for name in artifact.custom_properties}


def append(path: Path, text: str) -> None:
    """An edit: `text` added at the end of the file."""
    with path.open("a") as handle:
        handle.write(text)


def test_each_edit_re_runs_only_the_components_that_read_it(own_models: Path, tmp_path: Path) -> None:
    config = small_config(tmp_path, models_dir=own_models, schema_path=PipelineConfig().schema_path)
    assert states(config) == expect(EVERY)
    first_model = blessing(config)["current_model_id"]

    # --force, nothing changed: the Trainer's model is the one serving; no comparison with itself.
    assert states(config, force=True) == expect(DOWNSTREAM)
    forced = blessing(config)
    assert forced[BASELINE_SKIPPED] and "baseline_model_id" not in forced
    assert forced["current_model_id"] == first_model and forced["blessed"] == 1
    assert layout.list_versions(layout.model_base_path(config.serving_dir, config.model_name)) == [1]
    store = connection.open_metadata(config)
    evaluation = run_provenance(store, records.latest_run_id(store, config.pipeline_name)).evaluation
    assert evaluation is not None and evaluation.baseline_model_uri is None

    append(own_models / "common" / "model.py", "\n# edited: model code only\n")
    assert states(config) == expect(("Trainer", *DOWNSTREAM))
    compared = blessing(config)
    assert compared["baseline_model_id"] == first_model and BASELINE_SKIPPED not in compared
    # The first model's evaluation as the candidate on the same examples is reused, not re-scored.
    assert compared[BLESSING_REUSED_EVALUATION]

    append(own_models / "taxi" / "label.py", "\n# edited: preprocessing only\n")
    assert states(config) == expect((*TRAINING, *DOWNSTREAM))

    declaration = own_models / "taxi" / "project.yaml"
    text = declaration.read_text()
    assert "    auc: {min: 0.85}\n" in text
    declaration.write_text(text.replace(
        "    auc: {min: 0.85}\n", "    auc: {min: 0.85}\n    accuracy: {min: 0.05}\n"))
    assert states(config) == expect(DOWNSTREAM)
