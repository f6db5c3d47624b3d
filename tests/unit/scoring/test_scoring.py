"""Batch scoring without a model: the prediction log, which version a label or number picks, the
rows read from CSV files, and the refusals that write nothing."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from pipeline.__main__ import main
from pipeline.config import MODELS_DIR
from pipeline.errors import WorkFailed
from pipeline.scoring import prediction_log
from pipeline.scoring.inference import score_values
from pipeline.scoring.inputs import ScoringInputError, read_batch
from pipeline.scoring.model_choice import ModelChoiceError, resolve_version
from tests.support.csv_columns import write_csv

TYPES = {"size": "DT_FLOAT", "rooms": "DT_INT64", "color": "DT_STRING"}


def records(batch: str, ids: list[str]) -> list[dict[str, object]]:
    return [{"id": i, "model": "m", "version": 1, "label": "stable", "outputs": {"prediction": 1.0},
             "scored_at": "2026-01-01T00:00:00+00:00", "batch_id": batch} for i in ids]


def test_the_log_keeps_each_batch_whole_and_reads_them_oldest_first(tmp_path: Path) -> None:
    folder = prediction_log.log_dir(tmp_path, "p")
    for stamp, batch, ids in (("2026-01-02T00:00:00+00:00", "b2", ["c"]),
                              ("2026-01-01T00:00:00+00:00", "b1", ["a", "b"])):
        partial = prediction_log.stage_batch(folder, prediction_log.batch_name(stamp, batch),
                                             records(batch, ids))
        assert prediction_log.read_log(folder) == [] or batch == "b1"  # staged: not in the log yet
        assert prediction_log.publish(partial).name == prediction_log.batch_name(stamp, batch)
    assert [r["id"] for r in prediction_log.read_log(folder)] == ["a", "b", "c"]
    assert prediction_log.batch_name("2026-01-01T12:30:00+00:00", "x") == "20260101T123000Z-x.jsonl"
    assert not list(folder.glob(".*"))


def test_a_truncated_last_line_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    folder = prediction_log.log_dir(tmp_path, "p")
    path = prediction_log.publish(prediction_log.stage_batch(folder, "x.jsonl", records("b", ["a", "b"])))
    path.write_text(path.read_text()[:-20])  # a crash in the middle of the second record
    with pytest.raises(prediction_log.PredictionLogError, match=rf"{path}, line 2: truncated"):
        prediction_log.read_log(folder)
    path.write_text('{"id": "a"}\nnot json\n')
    with pytest.raises(prediction_log.PredictionLogError, match=rf"{path}, line 2: not a JSON"):
        prediction_log.read_log(folder)


def test_a_version_is_picked_by_number_or_label_stable_by_default() -> None:
    known, labels = [1, 2, 3], {"stable": 2, "canary": 3}
    assert resolve_version(known, labels, None, None, "m") == (2, "stable")
    assert resolve_version(known, labels, None, "canary", "m") == (3, "canary")
    assert resolve_version(known, labels, 1, None, "m") == (1, None)
    with pytest.raises(ModelChoiceError, match=r"version 7 is not a pushed.*\(known: 1, 2, 3\)"):
        resolve_version(known, labels, 7, None, "m")
    with pytest.raises(ModelChoiceError, match=r"no label 'beta' .*canary=3, stable=2"):
        resolve_version(known, labels, None, "beta", "m")


def test_scores_name_each_class_and_the_class_or_the_prediction() -> None:
    assert score_values({"probabilities": [0.75]}, ("0", "1")) == {
        "probabilities_0": 0.25, "probabilities_1": 0.75, "classes": "1"}
    assert score_values({"probabilities": [0.1, 0.7, 0.2], "classes": "b"}, ("a", "b", "c")) == {
        "probabilities_a": 0.1, "probabilities_b": 0.7, "probabilities_c": 0.2, "classes": "b"}
    assert score_values({"prediction": [4.5]}, ()) == {"prediction": 4.5}


def test_rows_of_a_folder_become_examples_named_by_their_id(tmp_path: Path) -> None:
    write_csv(tmp_path / "d" / "a.csv", {"key": ["k1", "k2"], "size": [1.5, None],
                                         "rooms": [2, 3], "color": ["red", "blue"], "extra": [0, 0]})
    write_csv(tmp_path / "d" / "b.csv", {"key": ["k3"], "size": [2.0], "rooms": [1], "color": ["red"]})
    batch = read_batch(tmp_path / "d", TYPES, "key")
    assert batch.ids == ("k1", "k2", "k3") and len(batch.examples) == 3
    assert [p.name for p in batch.files] == ["a.csv", "b.csv"] and len(batch.fingerprint) == 64
    assert read_batch(tmp_path / "d" / "b.csv", TYPES, None).ids == (f"{tmp_path}/d/b.csv, line 2",)


@pytest.mark.parametrize("columns, message", [
    ({"key": ["k1"], "size": [1.0], "rooms": [2]}, r"a.csv: missing column\(s\) color"),
    ({"size": [1.0], "rooms": [2], "color": ["red"]}, r"a.csv: no id column 'key'"),
    ({"key": ["k1", "k1"], "size": [1.0, 2.0], "rooms": [2, 2], "color": ["r", "b"]},
     r"duplicate id 'k1' in column 'key': .*a.csv, line 2 and .*a.csv, line 3"),
    ({"key": [None], "size": [1.0], "rooms": [2], "color": ["r"]}, r"a.csv, line 2: empty id"),
    ({"key": [], "size": [], "rooms": [], "color": []}, r"a.csv: no rows to score"),
], ids=["missing-feature", "missing-id", "duplicate-id", "empty-id", "header-only"])
def test_bad_rows_are_refused_naming_file_and_column(tmp_path: Path, columns, message) -> None:
    write_csv(tmp_path / "a.csv", columns)
    with pytest.raises(WorkFailed, match=message):  # ScoringInputError, or the client's ClientError
        read_batch(tmp_path / "a.csv", TYPES, "key")
    (tmp_path / "a.csv").write_text("")
    with pytest.raises(ScoringInputError, match=r"a.csv is empty"):
        read_batch(tmp_path / "a.csv", TYPES, "key")


def _project(tmp_path: Path, id_column: str | None) -> Path:
    """A copy of taxi's declaration (with or without an id column) in a models dir of its own."""
    models = tmp_path / "models"
    (models / "taxi").mkdir(parents=True)
    text = (MODELS_DIR / "taxi" / "project.yaml").read_text().replace(
        "schema: models/taxi/schema.pbtxt", "schema: infer")
    if id_column:
        text += f"id_column: {id_column}\n"
    (models / "taxi" / "project.yaml").write_text(text)
    (tmp_path / "data" / "taxi").mkdir(parents=True)
    return models


@pytest.mark.parametrize("id_column, message", [
    (None, r"^error: .*models/taxi/project.yaml: id_column: not set"),
    ("trip_id", r"^error: no metadata store at .*none.sqlite"),
])
def test_score_refuses_without_id_column_or_pushed_model_and_writes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
        id_column: str | None, message: str) -> None:
    monkeypatch.setenv("PIPELINE_MODELS_DIR", str(_project(tmp_path, id_column)))
    write_csv(tmp_path / "rows.csv", {"trip_id": ["a"], "fare": [1.0]})
    before = sorted(os.walk(tmp_path))
    code = main(["score", "--project", "taxi", "--data", str(tmp_path / "rows.csv"),
                 "--metadata", str(tmp_path / "none.sqlite"),
                 "--serving-dir", str(tmp_path / "serving"), "--config-dir", str(tmp_path / "cfg")])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code != 0 and len(errors) == 1 and re.search(message, errors[0]), errors
    assert sorted(os.walk(tmp_path)) == before


def test_a_canary_that_cannot_read_the_batch_is_reported_and_stable_goes_on(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from pipeline.scoring import batch

    def missing(config, chosen, data, id_column):
        raise ScoringInputError(f"{data}: missing column(s) new_feature")

    monkeypatch.setattr(batch, "_answers", missing)
    canary = batch.ChosenModel("m", 2, "canary", tmp_path, None)  # type: ignore[arg-type]
    shadow, skipped = batch._shadow_answers(None, canary, tmp_path / "rows.csv", "id")  # type: ignore[arg-type]
    assert shadow is None
    assert skipped == (f"canary version 2 not scored in shadow: {tmp_path}/rows.csv: missing "
                       "column(s) new_feature")
    assert batch._shadow_answers(None, None, tmp_path, "id") == (None, "")  # type: ignore[arg-type]


def test_the_native_encoder_sends_the_values_one_proto_a_row_sends() -> None:
    from tensorflow.core.example import example_pb2

    from pipeline.scoring.columns import columns_of_rows
    from pipeline.scoring.inputs import encode_columns
    from pipeline.serving.client import example_bytes

    rows = [{"size": 1.5, "rooms": 2, "color": "red"}, {"size": None, "rooms": -7, "color": "é"},
            {"size": 0.0, "rooms": None, "color": None}, {"size": None, "rooms": None, "color": ""}]
    for row, encoded in zip(rows, encode_columns(columns_of_rows(rows, TYPES), TYPES), strict=True):
        features = example_pb2.Example.FromString(encoded).features.feature
        assert sorted(features) == sorted(TYPES)
        assert not any(features[name].WhichOneof("kind") for name, value in row.items() if value is None)
        for name in [name for name, value in row.items() if value is None]:
            del features[name]
        present = example_pb2.Example()
        present.features.feature.MergeFrom(features)
        assert present == example_pb2.Example.FromString(example_bytes(row, TYPES))
