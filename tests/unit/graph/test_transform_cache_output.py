"""The pipeline's Transform executor against TFX's own on a few hundred rows: the same transformed
examples and vocabularies for a binary (taxi), a multiclass and a regression project; no analyzer
cache written unless the run asks for it (--analyzer-cache), TFX's cache when it does."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from pipeline import vocabulary
from pipeline.config.project import TRANSFORMED_TOLERANCE, Project, Task, load_project

# Runs TFX's Transform executor on Beam (imports TensorFlow): `make test-unit` skips it.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
ROWS = 300
SPLITS = ("train", "eval")


def _examples(csv_path: Path, schema: Any, uri: Path) -> None:
    """ROWS rows of the CSV as tf.Examples typed by the schema, dealt into train and eval."""
    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import schema_pb2

    kinds = {f.name: f.type for f in schema.feature}
    records: dict[str, list[bytes]] = {split: [] for split in SPLITS}
    with open(csv_path, newline="") as handle:
        for index, row in enumerate(csv.DictReader(handle)):
            if index == ROWS:
                break
            example = tf.train.Example()
            for name, text in row.items():
                if text == "" or name not in kinds:
                    continue
                feature = example.features.feature[name]
                if kinds[name] == schema_pb2.INT:
                    feature.int64_list.value.append(int(float(text)))
                elif kinds[name] == schema_pb2.FLOAT:
                    feature.float_list.value.append(float(text))
                else:
                    feature.bytes_list.value.append(text.encode())
            records["eval" if index % 3 == 0 else "train"].append(example.SerializeToString())
    for split, rows in records.items():
        (uri / f"Split-{split}").mkdir(parents=True)
        with tf.io.TFRecordWriter(str(uri / f"Split-{split}" / "data.gz"), "GZIP") as writer:
            for record in rows:
                writer.write(record)


def _inputs(project: Project, work: Path) -> dict[str, list[Any]]:
    """The Examples and Schema artifacts Transform reads, written under work."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2
    from tfx.types import artifact_utils, standard_artifacts

    schema = text_format.Parse((ROOT / project.schema).read_text(), schema_pb2.Schema())
    examples = standard_artifacts.Examples()
    examples.uri = str(work / "examples")
    examples.split_names = artifact_utils.encode_split_names(list(SPLITS))
    _examples(next((ROOT / project.data).glob("*.csv")), schema, work / "examples")
    schema_artifact = standard_artifacts.Schema()
    schema_artifact.uri = str(work / "schema")
    (work / "schema").mkdir()
    (work / "schema" / vocabulary.SCHEMA_FILE).write_text(text_format.MessageToString(schema))
    return {"examples": [examples], "schema": [schema_artifact]}


def _run(executor: Any, project: Project, inputs: dict[str, list[Any]], out: Path,
         write_cache: bool | None) -> Path:
    """One Transform execution into out; write_cache None leaves the flag out (TFX's default)."""
    _execute(executor, project, inputs, out, write_cache)
    return out


def _execute(executor: Any, project: Project, inputs: dict[str, list[Any]], out: Path,
             write_cache: bool | None) -> dict[str, list[Any]]:
    """One Transform execution into out: the output dict as the launcher publishes it after Do."""
    from tfx.types import artifact_utils, standard_artifacts

    def output(kind: type, name: str) -> list[Any]:
        artifact = kind()
        artifact.uri = str(out / name)
        os.makedirs(artifact.uri)
        return [artifact]

    outputs = {"transform_graph": output(standard_artifacts.TransformGraph, "graph"),
               "updated_analyzer_cache": output(standard_artifacts.TransformCache, "cache"),
               "transformed_examples": output(standard_artifacts.Examples, "examples")}
    outputs["transformed_examples"][0].split_names = artifact_utils.encode_split_names(list(SPLITS))
    custom_config: dict[str, Any] = {"project": project.code_view()}
    if write_cache is not None:
        custom_config[vocabulary.WRITE_ANALYZER_CACHE] = write_cache
    context = executor.Context(beam_pipeline_args=["--direct_running_mode=in_memory"],
                               tmp_dir=str(out / "tmp"), unique_id="1")
    executor(context).Do(inputs, outputs, {
        "preprocessing_fn": project.preprocessing_fn, "custom_config": json.dumps(custom_config),
        "force_tf_compat_v1": 1, "disable_statistics": 1})
    return outputs


def _rows(out: Path, split: str) -> list[dict[str, list[Any]]]:
    """The transformed examples of a split, in file order, as feature -> values."""
    import tensorflow as tf

    rows = []
    for path in sorted((out / "examples" / f"Split-{split}").iterdir()):
        for record in tf.data.TFRecordDataset(str(path), compression_type="GZIP"):
            features = tf.train.Example.FromString(record.numpy()).features.feature
            rows.append({name: list(f.float_list.value or f.int64_list.value or f.bytes_list.value)
                         for name, f in features.items()})
    return rows


def _assert_same_outputs(expected: Path, actual: Path) -> None:
    """The same transformed values (to TRANSFORMED_TOLERANCE) and byte-identical vocabularies."""
    for split in SPLITS:
        want, got = _rows(expected, split), _rows(actual, split)
        assert len(want) == len(got) > 0
        for row_want, row_got in zip(want, got, strict=True):
            assert row_got.keys() == row_want.keys()
            for name, values in row_want.items():
                assert row_got[name] == pytest.approx(values, abs=TRANSFORMED_TOLERANCE.abs,
                                                      rel=TRANSFORMED_TOLERANCE.rel), name
    assert _assets(actual) == _assets(expected)


def _assets(out: Path) -> dict[str, bytes]:
    """The transform graph's asset files (the vocabularies) by name."""
    folder = out / "graph" / "transform_fn" / "assets"
    return {p.name: p.read_bytes() for p in folder.iterdir()} if folder.is_dir() else {}


def _regression(penguins: Project) -> Project:
    """Penguins as a regression on body mass (the feature it was becomes the target)."""
    return dataclasses.replace(
        penguins, task=Task.REGRESSION, label="body_mass_g", classes=(), positive_class=None,
        features=tuple(f for f in penguins.features if f.name != "body_mass_g"))


def _projects() -> dict[str, Project]:
    taxi, penguins = load_project("taxi", ROOT / "models"), load_project("penguins", ROOT / "models")
    return {"taxi": taxi, "penguins": penguins, "penguins_regression": _regression(penguins)}


@pytest.mark.parametrize("name", ["taxi", "penguins", "penguins_regression"])
def test_the_same_outputs_as_tfx_and_no_cache_unless_asked(name: str, tmp_path: Path) -> None:
    from tfx.components.transform.executor import Executor as TfxExecutor

    from pipeline.graph.transform import Executor

    project = _projects()[name]
    inputs = _inputs(project, tmp_path / "in")
    tfx_out = _run(TfxExecutor, project, inputs, tmp_path / "tfx", None)
    ours = _run(Executor, project, inputs, tmp_path / "ours", False)
    _assert_same_outputs(tfx_out, ours)
    assert any((tfx_out / "cache").iterdir())
    assert not any((ours / "cache").iterdir())


def test_a_run_with_the_analyzer_cache_writes_tfx_cache(tmp_path: Path) -> None:
    from tfx.components.transform.executor import Executor as TfxExecutor

    from pipeline.graph.transform import Executor

    project = _projects()["penguins"]
    inputs = _inputs(project, tmp_path / "in")
    tfx_out = _run(TfxExecutor, project, inputs, tmp_path / "tfx", None)
    ours = _run(Executor, project, inputs, tmp_path / "ours", True)
    _assert_same_outputs(tfx_out, ours)

    def entries(out: Path) -> list[str]:
        return sorted(str(p.relative_to(out / "cache")) for p in (out / "cache").rglob("*"))

    # The same dataset key and analyzer entries (the accumulators' bytes vary from run to run).
    assert entries(ours) == entries(tfx_out) != []


@pytest.mark.parametrize("write_cache", [False, True])
def test_each_input_span_gets_its_transformed_examples_as_with_tfx(
        write_cache: bool, tmp_path: Path) -> None:
    """A window run gives Transform several Examples artifacts: TFX replaces the output list with
    one artifact per span, and the launcher publishes what the dict it passed holds after Do."""
    from tfx.components.transform.executor import Executor as TfxExecutor

    from pipeline.graph.transform import Executor

    project = _projects()["penguins"]
    first = _inputs(project, tmp_path / "span1")
    second = _inputs(project, tmp_path / "span2")
    inputs = {"examples": first["examples"] + second["examples"], "schema": first["schema"]}
    tfx_outputs = _execute(TfxExecutor, project, inputs, tmp_path / "tfx", None)
    ours = _execute(Executor, project, inputs, tmp_path / "ours", write_cache)

    def published(outputs: dict[str, list[Any]], root: Path) -> list[list[str]]:
        return [sorted(str(p.relative_to(root)) for p in Path(a.uri).rglob("*") if p.is_file())
                for a in outputs["transformed_examples"]]

    assert len(ours["transformed_examples"]) == len(tfx_outputs["transformed_examples"]) == 2
    assert published(ours, tmp_path / "ours") == published(tfx_outputs, tmp_path / "tfx")
    assert all(files for files in published(ours, tmp_path / "ours"))
    assert any((tmp_path / "ours" / "cache").iterdir()) is write_cache
