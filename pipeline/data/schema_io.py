"""Schema helpers: loading the curated schema, its columns and environments.

The curated schema declares TRAINING and SERVING environments; a SchemaGen-inferred one declares none.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import InvalidInput

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import schema_pb2

TRAINING = "TRAINING"
SERVING = "SERVING"


def declared(schema: schema_pb2.Schema, environment: str) -> str | None:
    """The environment if the schema declares it, else None (TFDV refuses undeclared ones)."""
    return environment if environment in schema.default_environment else None


def schema_columns(schema: schema_pb2.Schema, environment: str = TRAINING) -> set[str]:
    """Names of the schema's features present in an environment (deprecated ones included)."""
    names = set()
    for feature in schema.feature:
        excluded = environment in feature.not_in_environment
        included = not feature.in_environment or environment in feature.in_environment
        if included and not excluded:
            names.add(feature.name)
    return names


def load_schema(schema_path: Path) -> schema_pb2.Schema:
    """The curated schema proto; InvalidInput naming the file when it is missing or not a schema."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    if not Path(schema_path).is_file():
        raise InvalidInput(f"invalid config schema_path: {schema_path} is not a file")
    try:
        return text_format.Parse(Path(schema_path).read_text(encoding="utf-8"), schema_pb2.Schema())
    except (UnicodeDecodeError, text_format.ParseError) as error:
        raise InvalidInput(
            f"invalid config schema_path: {schema_path} is not a text schema.pbtxt: {error}"
        ) from error
