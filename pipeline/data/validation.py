"""Data validation, one path for every caller: the schema's environments and columns, reading
schemas, statistics and anomalies (artifact folders or files), statistics of a CSV file, TFDV's
check, and the one wording of an anomaly that commands and components print.

The curated schema declares TRAINING and SERVING environments; a SchemaGen-inferred one declares none.
Artifacts are read through pipeline.metadata.artifact_files (local paths directly, URIs such as
gs:// through TensorFlow's file systems). TF-free at import: TFDV only inside the functions that
compute statistics or validate them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeAlias

from pipeline.errors import InvalidInput
from pipeline.metadata import artifact_files
from pipeline.vocabulary import ANOMALIES_FILE, SCHEMA_FILE, SPLIT_PREFIX, STATISTICS_FILE, split_folder

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

    Statistics: TypeAlias = statistics_pb2.DatasetFeatureStatisticsList

TRAINING = "TRAINING"
SERVING = "SERVING"
# How the dataset-level reasons of an anomaly read: one line with every reason ("joined"),
# a line per reason ("each"), or none ("omitted"); each caller keeps the wording it always printed.
DatasetLines = Literal["joined", "each", "omitted"]


# --- the schema --------------------------------------------------------------------------------

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


def load_curated_schema(schema_path: Path) -> schema_pb2.Schema:
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


def read_schema_file(path: str) -> schema_pb2.Schema:
    """A text schema file (schema.pbtxt), local or at a URI."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    return text_format.Parse(artifact_files.read_text(path), schema_pb2.Schema())


def read_schema(uri: str) -> schema_pb2.Schema:
    """The schema of a Schema artifact (SchemaGen, ImportSchemaGen, the DataGate's)."""
    return read_schema_file(os.path.join(uri, SCHEMA_FILE))


# --- statistics --------------------------------------------------------------------------------

def read_statistics_file(path: str) -> Statistics:
    """A binary DatasetFeatureStatisticsList file (StatisticsGen's FeatureStats.pb)."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    return statistics_pb2.DatasetFeatureStatisticsList.FromString(artifact_files.read_bytes(path))


def read_statistics(uri: str, split: str) -> Statistics:
    """The statistics of one split of an ExampleStatistics artifact."""
    return read_statistics_file(_split_file(uri, split, STATISTICS_FILE))


def csv_statistics(csv_path: Path, schema: schema_pb2.Schema) -> Statistics:
    """TFDV statistics of a CSV file, typed by the schema."""
    import tensorflow_data_validation as tfdv

    options = tfdv.StatsOptions(schema=schema, infer_type_from_schema=True)
    return tfdv.generate_statistics_from_csv(str(csv_path), stats_options=options)


def file_statistics(path: Path, schema: schema_pb2.Schema) -> Statistics:
    """Statistics from a CSV file, a binary stats proto (.pb) or a TFDV stats TFRecord file."""
    import tensorflow_data_validation as tfdv

    if path.suffix == ".csv":
        return csv_statistics(path, schema)
    if path.suffix == ".pb":
        return read_statistics_file(str(path))
    return tfdv.load_statistics(str(path))


# --- anomalies ---------------------------------------------------------------------------------

def validate(
    statistics: Statistics, schema: schema_pb2.Schema, environment: str,
    previous: Statistics | None = None, serving: Statistics | None = None,
) -> anomalies_pb2.Anomalies:
    """TFDV's check against the schema in `environment` (when the schema declares it), with drift
    against `previous` and skew against `serving` statistics when given."""
    import tensorflow_data_validation as tfdv

    return tfdv.validate_statistics(
        statistics, schema, environment=declared(schema, environment),
        previous_statistics=previous, serving_statistics=serving,
    )


def read_anomalies(uri: str, split: str) -> anomalies_pb2.Anomalies:
    """The anomalies of one split of an ExampleAnomalies artifact."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    return anomalies_pb2.Anomalies.FromString(
        artifact_files.read_bytes(_split_file(uri, split, ANOMALIES_FILE)))


def anomaly_lines(
    anomalies: anomalies_pb2.Anomalies, split: str | None = None, dataset: DatasetLines = "joined"
) -> list[str]:
    """'[<split>: ]feature '<name>': <reasons>' per anomalous feature, then the dataset's reasons."""
    prefix = f"{split}: " if split is not None else ""
    lines = [
        f"{prefix}feature '{name}': "
        + "; ".join(r.description or r.short_description for r in info.reason)
        for name, info in sorted(anomalies.anomaly_info.items())
    ]
    if dataset == "omitted" or not anomalies.HasField("dataset_anomaly_info"):
        return lines
    reasons = [r.description for r in anomalies.dataset_anomaly_info.reason]
    if dataset == "joined":
        return lines + [f"{prefix}dataset: " + "; ".join(reasons)]
    return lines + [f"{prefix}dataset: {reason}" for reason in reasons]


def artifact_anomaly_lines(uri: str, splits: list[str] | None = None) -> list[str]:
    """The lines of each split of an ExampleAnomalies artifact; every Split-* folder when
    `splits` is None."""
    if splits is None:
        found = artifact_files.glob(uri, f"{SPLIT_PREFIX}*/{ANOMALIES_FILE}")
        splits = [path.rstrip("/").split("/")[-2].removeprefix(SPLIT_PREFIX) for path in found]
    return [line for split in splits for line in anomaly_lines(read_anomalies(uri, split), split)]


def _split_file(uri: str, split: str, name: str) -> str:
    """A file of one split of an artifact: <uri>/Split-<split>/<name>."""
    return os.path.join(uri, split_folder(split), name)
