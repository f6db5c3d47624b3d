"""The Baseline component's batched decoding of transformed examples gives the columns, values and
dtypes the earlier one-proto-at-a-time decoding gave, so the reference models' metrics are unchanged."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline import vocabulary
from pipeline.config.project import Feature, Project, Task, Treatment
from pipeline.data import baseline, example_batches

# Writes and reads TFRecords with TensorFlow and tfx_bsl: `make test-unit` skips it.
pytestmark = pytest.mark.slow

PROJECT = Project(name="p", data="d", label="y", task=Task.BINARY, classes=("0", "1"),
                  positive_class="1",
                  features=(Feature("x", Treatment.NUMERIC), Feature("c", Treatment.CATEGORICAL,
                                                                     max_value=5)))
ROWS = 50


def example(row: int) -> bytes:
    """A transformed row: a float input, an int id, the label, the weight; some values missing."""
    import tensorflow as tf

    feature = tf.train.Feature
    values = {
        vocabulary.transformed_name("x"): feature(float_list=tf.train.FloatList(
            value=[] if row % 7 == 3 else [row / 3.0 - 1.1])),
        vocabulary.transformed_name("c"): feature(int64_list=tf.train.Int64List(value=[row % 5])),
        vocabulary.label_key("y"): feature(int64_list=tf.train.Int64List(value=[row % 3 == 0])),
        vocabulary.WEIGHT_KEY: feature(float_list=tf.train.FloatList(value=[float(row % 4 != 1)])),
        "other": feature(bytes_list=tf.train.BytesList(value=[b"a"] if row % 2 else [])),
    }
    return tf.train.Example(features=tf.train.Features(feature=values)).SerializeToString()


def write_split(uri: Path, split: str) -> None:
    """Two GZIP TFRecord files of ROWS rows in all, as Transform writes a split."""
    import tensorflow as tf

    folder = uri / vocabulary.split_folder(split)
    folder.mkdir(parents=True)
    for part, rows in enumerate((range(0, 20), range(20, ROWS))):
        path = str(folder / f"transformed_examples-0000{part}-of-00002.gz")
        with tf.io.TFRecordWriter(path, tf.io.TFRecordOptions(compression_type="GZIP")) as out:
            for row in rows:
                out.write(example(row))


def one_at_a_time(uri: Path, split: str, limit: int) -> baseline.Split:
    """The earlier decoding: each record parsed to a proto in Python, its first value per key."""
    import tensorflow as tf

    folder = uri / vocabulary.split_folder(split)
    files = sorted(str(folder / name) for name in os.listdir(folder))
    columns: dict[str, list[Any]] = {}
    records = tf.data.TFRecordDataset(files, compression_type="GZIP").take(limit)
    for record in records.as_numpy_iterator():
        for key, feature in tf.train.Example.FromString(record).features.feature.items():
            kind = feature.WhichOneof("kind")
            values = getattr(feature, kind).value if kind else []
            columns.setdefault(key, []).append(values[0] if len(values) else np.nan)
    return baseline.split_from_columns(PROJECT, {k: np.asarray(v) for k, v in columns.items()})


def assert_same(new: baseline.Split, old: baseline.Split) -> None:
    """Same keys, dtypes and values (NaN where NaN)."""
    pairs = [(new.label, old.label), (new.weight, old.weight)]
    assert sorted(new.inputs) == sorted(old.inputs)
    pairs += [(new.inputs[key], old.inputs[key]) for key in old.inputs]
    for got, want in pairs:
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("max_rows, batch", [(baseline.FIT_ROWS, 8192), (33, 8), (ROWS, 7), (-1, 9)])
def test_batched_decoding_equals_per_row_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_rows: int, batch: int
) -> None:
    from pipeline.graph import baseline as component

    monkeypatch.setattr(example_batches, "DECODE_BATCH_ROWS", batch)
    write_split(tmp_path, vocabulary.TRAIN_SPLIT)
    new = component.read_split([str(tmp_path)], vocabulary.TRAIN_SPLIT, PROJECT, max_rows)
    old = one_at_a_time(tmp_path, vocabulary.TRAIN_SPLIT, max_rows)
    assert len(new.label) == (ROWS if max_rows < 0 else min(max_rows, ROWS))
    assert np.isnan(new.inputs[vocabulary.transformed_name("x")]).any()
    assert_same(new, old)
    assert baseline.fit(new, new, PROJECT) == baseline.fit(old, old, PROJECT)


def test_the_fit_reads_a_capped_sample_and_the_score_every_eval_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scored on the whole eval split, as the Evaluator scores the model; the cap on the fit is
    recorded with its rows, and the run's summary says so."""
    from pipeline.graph import baseline as component
    from pipeline.run import console

    monkeypatch.setattr(baseline, "FIT_ROWS", 30)
    write_split(tmp_path, vocabulary.TRAIN_SPLIT)
    write_split(tmp_path, vocabulary.EVAL_SPLIT)
    record = component.reference_record([str(tmp_path)], str(tmp_path), PROJECT)
    assert record[component.ROWS_PROPERTY] == {"fitted": 30, "scored": ROWS, "fit_limit": 30}
    train = one_at_a_time(tmp_path, vocabulary.TRAIN_SPLIT, 30)
    evaluation = one_at_a_time(tmp_path, vocabulary.EVAL_SPLIT, -1)
    assert record[component.METRICS_PROPERTY] == baseline.fit(train, evaluation, PROJECT)

    class Summary:
        baseline_rows = record[component.ROWS_PROPERTY]

    assert console.baseline_rows_text(Summary()) == (  # type: ignore[arg-type]
        f"same split; fitted on the first 30 training rows, scored on all {ROWS} eval rows")
    Summary.baseline_rows = {"fitted": 29, "scored": ROWS, "fit_limit": 30}
    assert console.baseline_rows_text(Summary()) == "same split"  # type: ignore[arg-type]
