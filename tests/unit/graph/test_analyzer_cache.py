"""tf.Transform's analyzer cache, as a window's Transform uses it: read for a dataset key it holds,
never for an analyzer that changed (preprocessing code edited between runs)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

# Runs tf.Transform on Beam (imports TensorFlow): `make test-unit` skips it.
pytestmark = pytest.mark.slow

ROWS = [1.0, 2.0, 3.0, 4.0]
KEY = "span-2-examples"


def centred(inputs: dict) -> dict:
    """x minus its mean: one analyzer."""
    import tensorflow_transform as tft

    return {"y": inputs["x"] - tft.mean(inputs["x"])}


def centred_on_double(inputs: dict) -> dict:
    """The 'edited' preprocessing: the analyzer's input changed (mean of 2x)."""
    import tensorflow_transform as tft

    return {"y": inputs["x"] - tft.mean(inputs["x"] * 2.0)}


def analyse(fn: Callable[[dict], dict], rows: list[float], work: Path,
            cache_in: Path | None) -> tuple[float, Path]:
    """Analyse rows under KEY with an optional input cache; y for x = 0 and the written cache."""
    import apache_beam as beam
    import tensorflow as tf
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.beam import analyzer_cache

    key = analyzer_cache.DatasetKey(KEY)
    metadata = tft.DatasetMetadata.from_feature_spec({"x": tf.io.FixedLenFeature([], tf.float32)})
    graph, cache_out = work / "graph", work / "cache"
    with tft_beam.Context(temp_dir=str(work / "tmp")), beam.Pipeline() as pipeline:
        data = {key: pipeline | "Rows" >> beam.Create([{"x": x} for x in rows])}
        cache = (pipeline | analyzer_cache.ReadAnalysisCacheFromFS(str(cache_in), [key])
                 if cache_in else {})
        transform_fn, written = (data, cache, metadata) | tft_beam.AnalyzeDatasetWithCache(fn)
        _ = transform_fn | tft_beam.WriteTransformFn(str(graph))
        _ = written | analyzer_cache.WriteAnalysisCacheToFS(pipeline, str(cache_out), [key])
    output = tft.TFTransformOutput(str(graph))
    y = output.transform_raw_features({"x": tf.constant([0.0])})["y"].numpy()[0]
    return float(y), cache_out


def test_a_cached_dataset_is_read_and_an_edited_analyzer_is_not(tmp_path: Path) -> None:
    y_cold, cache = analyse(centred, ROWS, tmp_path / "cold", None)
    assert y_cold == pytest.approx(-2.5)
    # Same analyzer, same key, other rows: the cached mean is used, the rows are not analysed
    # (why the key must name immutable data: TFX keys it by the Examples artifact's URI).
    y_hit, _ = analyse(centred, [100.0, 200.0], tmp_path / "hit", cache)
    assert y_hit == pytest.approx(-2.5)
    # Edited preprocessing, same data and key: the stale entry (mean 2.5) does not match the new
    # analyzer, which is computed afresh as a cold run would: -mean(2x) = -5.
    y_edited, _ = analyse(centred_on_double, ROWS, tmp_path / "edited", cache)
    assert y_edited == pytest.approx(-5.0)
