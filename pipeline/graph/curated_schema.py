"""ImportCuratedSchema: the hand-curated schema as the pipeline's schema artifact."""

from __future__ import annotations

from pathlib import Path

from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.components.base import base_component
from tfx.types import (
    channel,
    component_spec,
    standard_artifacts,
    standard_component_specs,
)


class _CuratedSchemaSpec(standard_component_specs.ImportSchemaGenSpec):
    """ImportSchemaGen's spec plus the file's hash, so editing the schema invalidates the cache."""

    PARAMETERS = {
        **standard_component_specs.ImportSchemaGenSpec.PARAMETERS,
        "schema_sha256": component_spec.ExecutionParameter(type=str),
    }


class ImportCuratedSchema(ImportSchemaGen):
    """ImportSchemaGen whose cache key includes the schema file's content.

    `schema_sha256` is the file's fingerprint, computed by the runner with the rest of the run's manifest
    (pipeline.data.fingerprints.schema_fingerprint); constructing the component reads no file.
    """

    SPEC_CLASS = _CuratedSchemaSpec

    def __init__(self, schema_file: Path, schema_sha256: str):
        spec = _CuratedSchemaSpec(
            schema_file=str(schema_file),
            schema_sha256=schema_sha256,
            schema=channel.Channel(type=standard_artifacts.Schema),
        )
        base_component.BaseComponent.__init__(self, spec=spec)
