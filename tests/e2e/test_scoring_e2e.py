"""`score` and server-less `predict` on the session's shared taxi run: a copy of its store and served
versions, a declaration with an id column, rows of the sample with ids added.

The scores must equal what the same SavedModel's `serving_default` answers in this process; the
batch must be in the prediction log and recorded in ML Metadata against the version's PushedModel."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from ml_metadata import metadata_store
from tensorflow.core.framework import types_pb2

from pipeline import vocabulary
from pipeline.__main__ import main
from pipeline.config import MODELS_DIR, STATE_DIR
from pipeline.metadata import connection, pushes, scorings
from pipeline.scoring import prediction_log
from pipeline.serving import client, layout
from tests.support.configs import SAMPLE_DATA

pytestmark = [pytest.mark.e2e, pytest.mark.taxi]
ROWS = 20
ID = "trip_id"


@pytest.fixture
def copied_run(shared_run, shared_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared run's store and served versions copied under tmp_path (the copy's pushes point at
    the copied versions), and taxi's declaration with an id column in a models dir of its own."""
    shutil.copy(shared_config.metadata_path, tmp_path / "metadata.sqlite")
    shutil.copytree(shared_config.serving_dir, tmp_path / "serving_model")
    store = metadata_store.MetadataStore(connection.metadata_connection(
        shared_config.replace(metadata_path=tmp_path / "metadata.sqlite")))
    moved = pushes.pushed_models(store, shared_config.pipeline_name)
    for artifact in moved:
        version = artifact.custom_properties["pushed_version"].string_value
        artifact.custom_properties["pushed_destination"].string_value = str(
            tmp_path / "serving_model" / shared_config.model_name / version)
    store.put_artifacts(moved)
    models = tmp_path / "models"
    (models / "taxi").mkdir(parents=True)
    text = (MODELS_DIR / "taxi" / "project.yaml").read_text()
    (models / "taxi" / "project.yaml").write_text(
        text.replace("schema: models/taxi/schema.pbtxt", "schema: infer") + f"id_column: {ID}\n")
    (tmp_path / "data" / "taxi").mkdir(parents=True)
    monkeypatch.setenv("PIPELINE_MODELS_DIR", str(models))
    with (SAMPLE_DATA / "data.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))[:ROWS]
    with (tmp_path / "rows.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[ID, *rows[0]])
        writer.writeheader()
        writer.writerows({ID: f"trip-{i}", **row} for i, row in enumerate(rows))
    return tmp_path


def _flags(root: Path) -> list[str]:
    return ["--project", "taxi", "--metadata", str(root / "metadata.sqlite"),
            "--serving-dir", str(root / "serving_model"), "--config-dir", str(root / "serving")]


def _in_process(version_dir: Path, csv_path: Path) -> np.ndarray:
    """serving_default of the SavedModel loaded here, on the file's rows as tf.Examples."""
    model = tf.saved_model.load(str(version_dir), tags=["serve"])
    specs = model.signatures[vocabulary.RAW_SIGNATURE].structured_input_signature[1]
    types = {k: types_pb2.DataType.Name(s.dtype.as_datatype_enum) for k, s in specs.items()}
    examples = [client.example_bytes(row, types) for row in client.read_rows(csv_path, types)]
    outputs = model.signatures[vocabulary.SERVING_SIGNATURE](examples=tf.constant(examples))
    return outputs[vocabulary.PROBABILITIES_OUTPUT].numpy().reshape(-1)


def test_score_writes_rows_logs_the_batch_and_records_it(
        copied_run: Path, shared_config, capsys: pytest.CaptureFixture) -> None:
    root = copied_run
    assert main(["score", *_flags(root), "--data", str(root / "rows.csv"), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["rows"] == ROWS and answer["version"] == 1 and answer["label"] == "stable"
    output = Path(answer["output"])
    assert output.is_relative_to(STATE_DIR / "scores" / "taxi")
    with output.open(newline="") as handle:
        scored = list(csv.DictReader(handle))
    columns = [ID, "model", "version", "probabilities_0", "probabilities_1", "classes", "scored_at"]
    assert list(scored[0]) == columns and len(scored) == ROWS
    assert [r[ID] for r in scored] == [f"trip-{i}" for i in range(ROWS)]
    assert {(r["model"], r["version"]) for r in scored} == {("taxi", "1")}
    version_dir = layout.model_base_path(root / "serving_model", "taxi") / "1"
    expected = _in_process(version_dir, root / "rows.csv")
    np.testing.assert_allclose([float(r["probabilities_1"]) for r in scored], expected, atol=1e-5)
    cut = layout.decision_threshold(version_dir)
    assert cut is not None and cut.rule == "max_f1" and answer["decision_threshold"] == cut.threshold
    assert [r["classes"] for r in scored] == ["1" if p >= cut.threshold else "0" for p in expected]

    logged = [r for r in prediction_log.read_log(prediction_log.log_dir(STATE_DIR, "taxi"))
              if r["batch_id"] == answer["batch_id"]]
    assert [r["id"] for r in logged] == [f"trip-{i}" for i in range(ROWS)]
    assert {(r["version"], r["label"]) for r in logged} == {(1, "stable")}
    np.testing.assert_allclose([r["outputs"]["probabilities_1"] for r in logged], expected, atol=1e-5)

    config = shared_config.replace(metadata_path=root / "metadata.sqlite")
    store = connection.open_metadata(config)
    [recorded] = scorings.scorings(store, config.pipeline_name)
    assert recorded.pushed_model_id == pushes.pushed_model(store, config.pipeline_name, "1").id
    assert (recorded.rows, recorded.model_version, recorded.label) == (ROWS, "1", "stable")
    assert recorded.scores_uri == str(output.resolve()) and len(recorded.data_fingerprint) == 64

    # A version that is not pushed: one error line, and nothing more written anywhere.
    assert main(["score", *_flags(root), "--data", str(root / "rows.csv"), "--version", "9"]) == 1
    errors = capsys.readouterr().err.splitlines()
    assert [e for e in errors if e.startswith("error:")] == [
        "error: version 9 is not a pushed, blessed version of model 'taxi' on disk (known: 1)"]
    assert len(scorings.scorings(connection.open_metadata(config), config.pipeline_name)) == 1

    # predict without a server: the same probabilities and classes, as its table prints them;
    # nothing recorded.
    assert main(["predict", *_flags(root), str(root / "rows.csv")]) == 0
    table = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert table[0] == ["row", vocabulary.CLASSES_OUTPUT, vocabulary.PROBABILITIES_OUTPUT]
    assert len(table) == ROWS + 1
    np.testing.assert_allclose([float(row[2]) for row in table[1:]], expected, atol=1e-5)
    assert [row[1] for row in table[1:]] == [r["classes"] for r in scored]
    assert len(scorings.scorings(connection.open_metadata(config), config.pipeline_name)) == 1


def test_score_and_predict_call_classes_at_the_recorded_threshold(
        copied_run: Path, capsys: pytest.CaptureFixture) -> None:
    """A version's recorded threshold, moved to the median probability of the rows, decides their
    classes (half of them differ from a 0.5 cut); without the file, 0.5 and one note line."""
    root = copied_run
    version_dir = layout.model_base_path(root / "serving_model", "taxi") / "1"
    expected = _in_process(version_dir, root / "rows.csv")
    recorded = layout.decision_threshold(version_dir)
    assert recorded is not None
    cut = float(np.median(expected))
    (version_dir / layout.ASSETS_EXTRA / vocabulary.DECISION_THRESHOLD_FILE).write_text(
        dataclasses.replace(recorded, threshold=cut).to_json())
    calls = ["1" if p >= cut else "0" for p in expected]
    assert calls != ["1" if p >= 0.5 else "0" for p in expected]

    assert main(["score", *_flags(root), "--data", str(root / "rows.csv")]) == 0
    out = capsys.readouterr().out
    assert f"classes: class '1' from probability {cut:.4g} (max_f1 on the training split)" in out
    written = Path(next(line for line in out.splitlines() if line.startswith("wrote ")).split()[1])
    with written.open(newline="") as handle:
        assert [row["classes"] for row in csv.DictReader(handle)] == calls
    assert main(["predict", *_flags(root), str(root / "rows.csv")]) == 0
    table = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [row[1] for row in table[1:]] == calls

    (version_dir / layout.ASSETS_EXTRA / vocabulary.DECISION_THRESHOLD_FILE).unlink()
    assert main(["predict", *_flags(root), str(root / "rows.csv")]) == 0
    captured = capsys.readouterr()
    table = [line.split("\t") for line in captured.out.splitlines()]
    assert [row[1] for row in table[1:]] == ["1" if p >= 0.5 else "0" for p in expected]
    assert captured.err.splitlines() == [
        "note: version 1 records no decision threshold (pushed before thresholds were recorded, or "
        "not found under the serving dir): class '1' from probability 0.5"]
