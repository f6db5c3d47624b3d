"""Validation environments are used only where the schema declares them (SchemaGen's has none)."""

from __future__ import annotations

from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.utils import io_utils

from pipeline.config import PipelineConfig
from pipeline.data import schema_io


def test_curated_schema_declares_both_environments() -> None:
    curated = io_utils.parse_pbtxt_file(str(PipelineConfig().schema_path), schema_pb2.Schema())
    assert schema_io.declared(curated, schema_io.TRAINING) == "TRAINING"
    assert schema_io.declared(curated, schema_io.SERVING) == "SERVING"


def test_inferred_schema_without_environments_validates_without_one() -> None:
    inferred = schema_pb2.Schema()
    inferred.feature.add(name="fare", type=schema_pb2.FLOAT)
    assert schema_io.declared(inferred, schema_io.TRAINING) is None
