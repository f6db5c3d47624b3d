"""The champion/challenger loop on a copy of the session's shared taxi run, with real scoring:
score -> feedback -> a second version pushed as canary -> shadow scoring -> feedback -> promote.

The second version is the shared run's SavedModel pushed again as version 2 (recorded in ML
Metadata as a second push of the same blessed model, so no second training): the canary's
answers must then equal stable's row for row, and `promote` must find it no worse."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from ml_metadata.proto import metadata_store_pb2
from sklearn.metrics import roc_auc_score

from pipeline.__main__ import main
from pipeline.config import STATE_DIR, store_config
from pipeline.metadata import connection, live_evaluations, pushes, scorings
from pipeline.scoring import feedback as fb
from pipeline.scoring import prediction_log
from pipeline.serving.canary import label_as_canary
from pipeline.serving.server_config import read_plan
from tests.e2e import test_scoring_e2e
from tests.e2e.test_scoring_e2e import ID, ROWS

pytestmark = [pytest.mark.e2e, pytest.mark.taxi]
# The scoring test's copy of the shared run (its store, versions, and taxi with an id column).
copied_run = test_scoring_e2e.copied_run


def _flags(root: Path) -> list[str]:
    return ["--project", "taxi", "--metadata", str(root / "metadata.sqlite"),
            "--serving-dir", str(root / "serving_model"), "--config-dir", str(root / "serving")]


def _push_again(root: Path, pipeline_name: str) -> None:
    """Version 1's SavedModel published as version 2 and recorded as a push of the same blessed
    model (the same inputs, the same run) by a new pusher execution."""
    base = root / "serving_model" / "taxi"
    shutil.copytree(base / "1", base / "2")
    config = store_config({}, {"metadata_path": root / "metadata.sqlite"})
    store = connection.open_metadata(config, read_only=False)
    first = pushes.pushed_model(store, pipeline_name, "1")
    [producer] = [e.execution_id for e in store.get_events_by_artifact_ids([first.id])
                  if e.type == metadata_store_pb2.Event.OUTPUT]
    [execution] = store.get_executions_by_id([producer])
    inputs = [e for e in store.get_events_by_execution_ids([producer])
              if e.type == metadata_store_pb2.Event.INPUT]
    second = metadata_store_pb2.Artifact()
    second.CopyFrom(first)
    second.ClearField("id")
    second.ClearField("name")
    second.custom_properties["pushed_version"].string_value = "2"
    second.custom_properties["pushed_destination"].string_value = str(base / "2")
    output = metadata_store_pb2.Event(type=metadata_store_pb2.Event.OUTPUT)
    output.path.steps.add().key = "pushed_model"
    execution.ClearField("id")
    execution.ClearField("name")  # names are unique per type: this is another execution
    pairs = [(store.get_artifacts_by_id([e.artifact_id])[0], e) for e in inputs]
    for _, event in pairs:
        event.ClearField("execution_id")
    store.put_execution(execution, [*pairs, (second, output)],
                        store.get_contexts_by_execution(producer))


def _labels(root: Path) -> dict[str, str]:
    """The taxi label (tips > 20 % of the fare) of each scored row, keyed by its id."""
    with (root / "rows.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {row[ID]: "1" if float(row["tips"] or 0) > 0.2 * float(row["fare"] or 0) else "0"
            for row in rows}


def _run(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, dict]:
    code = main([*args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out.strip().splitlines()[-1])


@pytest.fixture
def clean_logs():
    """The taxi prediction log and feedback of this test alone."""
    folders = [prediction_log.log_dir(STATE_DIR, "taxi"), fb.feedback_dir(STATE_DIR, "taxi")]
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    yield
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def test_score_feedback_canary_shadow_feedback_promote(
        copied_run: Path, shared_config, clean_logs, capsys: pytest.CaptureFixture) -> None:
    root = copied_run
    declaration = root / "models" / "taxi" / "project.yaml"
    declaration.write_text(declaration.read_text()
                           + f"promotion: {{mode: canary, min_labelled_rows: {ROWS}}}\n")
    labels = _labels(root)
    with (root / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([ID, "big_tipper"])
        writer.writerows([*labels.items(), ("never-scored", "1")])
    score = ["score", *_flags(root), "--data", str(root / "rows.csv")]
    feedback = ["feedback", *_flags(root)[:4], "--labels", str(root / "labels.csv")]

    code, first = _run(score, capsys)
    assert code == 0 and first["version"] == 1 and first["shadow_version"] is None
    code, measured = _run(feedback, capsys)
    assert code == (1 if measured["breached"] else 0)
    assert (measured["labels"], measured["unscored"], measured["step"]) == (ROWS + 1, 1, 1)
    [stable] = measured["models"]
    with Path(first["output"]).open(newline="") as handle:
        scored = {row[ID]: float(row["probabilities_1"]) for row in csv.DictReader(handle)}
    truth = [labels[i] for i in scored]
    if len(set(truth)) == 2:
        expected = roc_auc_score([int(t) for t in truth], list(scored.values()))
        assert stable["metrics"]["auc"] == pytest.approx(expected, abs=1e-9)
    assert stable["rows"] == ROWS and set(stable["slices"]) == {"trip_start_hour", "payment_type"}

    # A second blessed version arrives: under promotion mode canary it is labelled canary.
    _push_again(root, shared_config.pipeline_name)
    config = store_config(os.environ, {"project": "taxi", "metadata_path": root / "metadata.sqlite",
                               "serving_dir": root / "serving_model"},
                          extra=("serving_dir", "model_name"))
    assert label_as_canary(config, root / "serving", 2, say=lambda text: None) == {
        "stable": 1, "canary": 2}

    code, second = _run(score, capsys)
    assert (code, second["version"], second["label"], second["shadow_version"]) == (
        0, 1, "stable", 2)
    with Path(second["output"]).open(newline="") as handle:
        assert {row["version"] for row in csv.DictReader(handle)} == {"1"}  # stable's answers only
    batch = [r for r in prediction_log.read_log(prediction_log.log_dir(STATE_DIR, "taxi"))
             if r["batch_id"] == second["batch_id"]]
    by_role = {role: [r for r in batch if r["label"] == role] for role in ("stable", "canary")}
    assert [len(by_role["stable"]), len(by_role["canary"])] == [ROWS, ROWS]
    assert {r["version"] for r in by_role["canary"]} == {2}
    np.testing.assert_allclose([r["outputs"]["probabilities_1"] for r in by_role["canary"]],
                               [r["outputs"]["probabilities_1"] for r in by_role["stable"]])
    store = connection.open_metadata(shared_config.replace(metadata_path=root / "metadata.sqlite"))
    assert [(s.model_version, s.label) for s in scorings.scorings(store, "taxi")][-2:] == [
        ("1", "stable"), ("2", "canary")]

    code, measured = _run(feedback, capsys)
    assert measured["step"] == 2 and [m["version"] for m in measured["models"]] == [1, 2]
    assert measured["comparison"]["rows"] == ROWS and measured["comparison"]["no_worse"]

    code, promoted = _run(["promote", *_flags(root)], capsys)
    assert (code, promoted["promoted"], promoted["rows"]) == (0, True, ROWS)
    assert read_plan(root / "serving" / "models.config", "taxi").labels == {"stable": 2}
    store = connection.open_metadata(shared_config.replace(metadata_path=root / "metadata.sqlite"))
    [decision] = live_evaluations.promotions(store, "taxi")
    assert decision.promoted and (decision.stable, decision.canary) == ("1", "2")
    assert decision.evidence["canary_metrics"] == decision.evidence["stable_metrics"]
    assert {e.model_version for e in live_evaluations.live_evaluations(store, "taxi")} == {"1", "2"}
