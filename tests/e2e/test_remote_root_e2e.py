"""`run` with a URI pipeline root: every artifact goes to the object store (TensorFlow's ram://,
which Beam's in-process DirectRunner reaches through tests/support/ram_filesystem.py), the run lock
and the served model stay on local disk, and an unchanged re-run is answered from ML Metadata after
checking the artifacts through fileio. Not a real bucket: gs:// goes through the same fileio calls."""

from __future__ import annotations

from pathlib import Path

import pytest
import tensorflow as tf

from pipeline.metadata import connection, records
from pipeline.run import up_to_date
from pipeline.run.local_runner import run_pipeline
from pipeline.run.run_lock import lock_paths
from pipeline.serving import layout
from tests.support.configs import current_context, small_config
from tests.support.ram_filesystem import fresh_root, remove_tree, rename_with_contents

pytestmark = pytest.mark.e2e


def test_a_run_on_a_ram_root_writes_there_pushes_locally_and_reruns_up_to_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tf.io.gfile, "rename", rename_with_contents(tf.io.gfile.rename))
    root = fresh_root("pipeline_root")
    config = small_config(tmp_path, pipeline_root=root)
    first = run_pipeline(config, reuse_unchanged=True)
    store = connection.open_metadata(config)
    components = records.component_runs(store, first.summary.run_id)
    assert {c.state for c in components} == {"COMPLETE"}
    assert {c.node_id for c in components} >= {
        "CsvExampleGen", "StatisticsGen", "Transform", "Trainer", "Evaluator", "ServingPusher"}
    uris = [a.uri for c in components for outputs in c.outputs.values() for a in outputs]
    assert uris and all(uri.startswith(root + "/") for uri in uris), uris
    assert not (tmp_path / "pipeline_root").exists()
    assert lock_paths(root, config.metadata_path)[0].is_file()

    base = layout.model_base_path(config.serving_dir, config.model_name)
    assert first.summary.pushed_version == "1"
    assert (base / "1" / "saved_model.pb").is_file()

    executions = len(store.get_executions())
    second = run_pipeline(config, reuse_unchanged=True)
    assert second.reused and second.summary.run_id == first.summary.run_id
    assert len(connection.open_metadata(config).get_executions()) == executions
    assert layout.list_versions(base) == [1]

    trainer = next(c for c in components if c.node_id == "Trainer")
    model_uri = trainer.outputs["model"][0].uri
    remove_tree(model_uri)
    verdict = up_to_date.check(store, config, current_context(config))
    assert not verdict.unchanged
    assert verdict.reason.endswith(f"no longer exists: Trainer {model_uri}")
