"""Which differences make the last run unusable for this one (no pipeline run needed)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from pipeline.run import up_to_date


def context(**changes: object) -> str:
    """A run-context text like RecordRunContext stores."""
    values = {"data_fingerprint": "d1", "code_fingerprint": "c1",
              "config": {"train_steps": 10, "min_auc": 0.5}}
    config = {**values["config"], **changes.pop("config", {})}
    return json.dumps({**values, **changes, "config": config}, sort_keys=True)


def test_identical_contexts_have_no_changed_field() -> None:
    assert up_to_date.changed_fields(context(), context()) == []


def test_changed_data_code_and_config_fields_are_named() -> None:
    recorded = context()
    now = context(data_fingerprint="d2", code_fingerprint="c2", config={"train_steps": 20})
    assert up_to_date.changed_fields(recorded, now) == [
        "code_fingerprint", "data_fingerprint", "config.train_steps"]


def test_a_field_only_one_side_has_counts_as_changed() -> None:
    assert up_to_date.changed_fields(context(), context(schema_fingerprint="s")) == [
        "schema_fingerprint"]
    assert up_to_date.changed_fields("not json", context()) == ["run context (unreadable)"]


def test_a_deleted_local_output_is_reported(tmp_path: Path) -> None:
    kept = SimpleNamespace(uri=str(tmp_path))
    lost = SimpleNamespace(uri=str(tmp_path / "gone"))
    components = [SimpleNamespace(node_id="Trainer", outputs={"model": [kept]}),
                  SimpleNamespace(node_id="Transform", outputs={"transform_graph": [lost]})]
    assert up_to_date.missing_outputs(components[:1]) is None
    assert up_to_date.missing_outputs(components) == f"Transform {tmp_path / 'gone'}"


def test_outputs_under_a_uri_are_checked_through_fileio() -> None:
    import tensorflow as tf

    from tests.support import ram_filesystem

    root = ram_filesystem.fresh_root("outputs")
    kept, lost = f"{root}/Trainer/model/7", f"{root}/Transform/transform_graph/6"
    for folder in (kept, lost):
        tf.io.gfile.makedirs(folder)
    components = [SimpleNamespace(node_id="Trainer", outputs={"model": [SimpleNamespace(uri=kept)]}),
                  SimpleNamespace(node_id="Transform",
                                  outputs={"transform_graph": [SimpleNamespace(uri=lost)]})]
    assert up_to_date.missing_outputs(components) is None
    tf.io.gfile.rmtree(lost)
    assert up_to_date.missing_outputs(components) == f"Transform {lost}"


def test_a_uri_no_file_system_here_can_read_counts_as_missing() -> None:
    unreadable = SimpleNamespace(uri="nosuchfs://bucket/Trainer/model/7")
    assert up_to_date.missing_outputs(
        [SimpleNamespace(node_id="Trainer", outputs={"model": [unreadable]})]
    ) == "Trainer nosuchfs://bucket/Trainer/model/7"


def test_a_commit_elsewhere_in_the_checkout_leaves_a_run_up_to_date() -> None:
    recorded = context(git_commit="a", git_dirty=False)
    assert up_to_date.changed_fields(recorded, context(git_commit="b", git_dirty=True)) == []


def test_a_declaration_edit_is_named_by_its_field() -> None:
    recorded = context(config={"declaration": {"label": "tips", "slices": ["hour"]}})
    now = context(config={"declaration": {"label": "tips", "slices": ["hour", "payment"]}})
    assert up_to_date.changed_fields(recorded, now) == ["config.declaration.slices"]
