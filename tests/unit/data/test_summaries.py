"""The vectorized summaries give exactly what the former per-row code gave: the same values read
from tf.Examples, the same numeric and categorical summaries, on hostile columns."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from pipeline.data import drift, example_batches, summaries

HOSTILE: list[float | str | None] = [
    1, 1.0, "1", "1.0", " 2 ", -0.0, 0.0, 2**62, 1.5, "1e3", "abc", None, float("nan"),
    float("inf"), "-inf", "nan", "café", "", 3, 7.25, None, "3", 2**62,
]
NUMBERS_ONLY: list[float | str | None] = [
    3, 1.5, None, float("nan"), -0.0, float("-inf"), 2**53 + 1, 7, 1.5, 0.1, None, -12]


def reference_summary(kind: drift.Kind, column: Sequence[float | str | None]) -> drift.Distribution:
    """The former per-row summary."""
    if kind is drift.Kind.NUMERIC:
        return drift.numeric(n for v in column if (n := summaries._number(v)) is not None)
    return drift.categorical(None if v is None else summaries.category_text(v) for v in column)


@pytest.mark.parametrize("column", [HOSTILE, NUMBERS_ONLY, [None, None], []])
@pytest.mark.parametrize("kind", list(drift.Kind))
def test_summaries_equal_the_per_row_ones(kind: drift.Kind, column: list) -> None:
    ours, theirs = summaries.summarise(kind, column), reference_summary(kind, column)
    assert ours == theirs
    assert list((ours.shares or {}).items()) == list((theirs.shares or {}).items())  # same order


def reference_columns(files: list[str], names: list[str]) -> dict[str, list]:
    """The former per-row reading: each example parsed, each feature's first value."""
    import tensorflow as tf

    values: dict[str, list] = {name: [] for name in names}
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
        features = tf.train.Example.FromString(record).features.feature
        for name, column in values.items():
            kind = features[name].WhichOneof("kind") if name in features else None
            found = list(getattr(features[name], kind).value) if kind else []
            first = found[0] if found else None
            column.append(first.decode("utf-8", errors="replace") if isinstance(first, bytes)
                          else first)
    return values


@pytest.mark.slow
def test_example_columns_equal_the_per_row_parse(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import tensorflow as tf

    split = tmp_path / "Split-train"
    split.mkdir()
    rows = []
    for i in range(23):
        example = tf.train.Example()
        feature = example.features.feature
        if i % 3:
            feature["n"].int64_list.value.extend([i - 10, 5])
        else:
            feature["n"].SetInParent()
        if i % 4:
            feature["f"].float_list.value.append(i / 7)
        feature["s"].bytes_list.value.append(["café".encode(), b"\xff\xfe", b"", b"x"][i % 4])
        feature["empty"].SetInParent()
        rows.append(example.SerializeToString())
    paths = []
    for part, chunk in enumerate((rows[:10], rows[10:])):
        paths.append(str(split / f"part-{part}.gz"))
        with tf.io.TFRecordWriter(paths[-1], options="GZIP") as writer:
            for row in chunk:
                writer.write(row)
    monkeypatch.setattr(example_batches, "DECODE_BATCH_ROWS", 4)  # several batches, one across files
    names = ["n", "f", "s", "empty", "absent"]
    ours = summaries.example_columns([str(tmp_path)], "train", names)
    theirs = reference_columns(paths, names)
    assert ours == theirs
    assert all(isinstance(v, float) and not math.isnan(v) for v in ours["f"] if v is not None)
