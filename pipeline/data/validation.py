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
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from pipeline.config.project import DataLimits, Project
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


def csv_statistics(csv_path: Path | str, schema: schema_pb2.Schema) -> Statistics:
    """TFDV statistics of CSV files (a path or a glob pattern), each column typed from its cells
    as CsvExampleGen types it, so a column of words where the schema has numbers is a type change
    the verdict names (typing by the schema would fail on the first such cell); the schema still
    says which integer columns are categorical."""
    import tensorflow_data_validation as tfdv

    options = tfdv.StatsOptions(schema=schema, infer_type_from_schema=False)
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


# --- the verdict: schema skew stops, value skew and drift are recorded -------------------------

# TFDV's anomaly types that measure a distance between two datasets (drift between spans).
DRIFT_TYPES = frozenset({
    "COMPARATOR_L_INFTY_HIGH", "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH",
    "COMPARATOR_NORMALIZED_ABSOLUTE_DIFFERENCE_HIGH", "COMPARATOR_LOW_NUM_EXAMPLES",
    "COMPARATOR_HIGH_NUM_EXAMPLES",
})


@dataclass(frozen=True)
class Drift:
    """One feature whose distance to the previous span crossed its threshold."""

    split: str
    feature: str
    measure: str
    distance: float
    threshold: float


@dataclass
class Verdict:
    """Schema skew (broken data: the run stops before Transform), value skew (the world grew:
    recorded and reported) and drift (recorded, alerted, retrained on unless declared a stop)."""

    schema_skew: list[str] = field(default_factory=list)
    value_skew: list[str] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)

    @property
    def stops(self) -> bool:
        """Only schema skew stops a run by itself; drift does when the declaration says so."""
        return bool(self.schema_skew)

    def features(self, kind: Literal["schema_skew", "value_skew"]) -> set[str]:
        """Names of the features a kind of finding names, for comparing verdicts."""
        return {line.split("'")[1] for line in getattr(self, kind) if "feature '" in line}

    def extend(self, other: Verdict) -> None:
        """Add another split's or span's findings."""
        self.schema_skew += other.schema_skew
        self.value_skew += other.value_skew
        self.drift += other.drift

    def record(self) -> dict[str, object]:
        """JSON-ready form, recorded in ML Metadata."""
        return {"schema_skew": self.schema_skew, "value_skew": self.value_skew,
                "drift": [asdict(d) for d in self.drift]}


def bounded_schema(
    schema: schema_pb2.Schema, limits: DataLimits, strict: frozenset[str] = frozenset(),
) -> schema_pb2.Schema:
    """The schema as a stop rule: types, columns, presence and numeric minimums kept (a negative
    fare or count is broken data); numeric maximums, integer codes and closed vocabularies relaxed
    (growth: a value past the range, a new code or category), up to the declared share of empty
    cells and unknown categories, except for the `strict` columns (the label: a class it does not
    know cannot train); no drift or skew comparators (distances are value drift, judged apart)."""
    bounded = type(schema).FromString(schema.SerializeToString())
    for feature in bounded.feature:
        feature.ClearField("drift_comparator")
        feature.ClearField("skew_comparator")
        if feature.name in strict:
            continue
        for domain in ("float_domain", "int_domain"):
            if feature.HasField(domain):
                bounds = getattr(feature, domain)
                bounds.ClearField("max")
                if domain == "int_domain" and bounds.is_categorical:
                    bounds.ClearField("min")
        if feature.HasField("domain") or feature.HasField("string_domain"):
            constraints = feature.distribution_constraints
            mass = constraints.min_domain_mass if feature.HasField("distribution_constraints") else 1.0
            constraints.min_domain_mass = min(mass, 1.0 - limits.max_unknown_share)
        if feature.presence.min_fraction:
            feature.presence.min_fraction = min(feature.presence.min_fraction,
                                                1.0 - limits.max_missing_share)
    return bounded


def judge(
    splits: Mapping[str, Statistics], schema: schema_pb2.Schema, limits: DataLimits,
    environment: str, found: Mapping[str, anomalies_pb2.Anomalies] | None = None,
    previous: Mapping[str, Statistics] | None = None, project: Project | None = None,
) -> Verdict:
    """The one verdict of `check-data`, the DataGate and `monitor` on the same statistics: TFDV's
    check against the schema as curated (`found` when a validator already ran it, with drift
    against `previous` when given), split into what the bounded schema still rejects (schema
    skew), what it accepts (value skew) and distances (drift); in TRAINING, a label that cannot
    train (the label of `project`) is schema skew too."""
    from pipeline.data import label_checks

    bounded = bounded_schema(schema, limits, frozenset([project.label] if project else []))
    verdict = Verdict()
    for split, statistics in splits.items():
        strict = found[split] if found is not None else validate(
            statistics, schema, environment, previous=(previous or {}).get(split))
        blocking = validate(statistics, bounded, environment)
        verdict.extend(classify(strict, blocking, split, frozenset(f.name for f in schema.feature)))
    verdict.extend(empty_cells(splits, schema, limits, verdict))
    if environment == TRAINING and project is not None:
        datasets = {split: stats.datasets[0] for split, stats in splits.items()}
        verdict.schema_skew += label_checks.label_problems(datasets, project)
    return verdict


def classify(
    strict: anomalies_pb2.Anomalies, blocking: anomalies_pb2.Anomalies, split: str,
    known: frozenset[str] = frozenset(),
) -> Verdict:
    """Each reason of the strict check: drift when it is a distance, schema skew when the bounded
    schema found it too, value skew otherwise; one line per feature and kind. A `known` column
    present where its environment does not expect it (the label in serving data) is no finding."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    type_name = anomalies_pb2.AnomalyInfo.Type.Name
    ignored = {name for name in known if _only_new_column(blocking, name)}
    stopping = {(name, reason.type) for name, info in blocking.anomaly_info.items()
                for reason in info.reason}
    kept = _drift_free(blocking)
    for name in ignored:
        del kept.anomaly_info[name]
    verdict = Verdict(schema_skew=anomaly_lines(kept, split, dataset="each"))
    for name, info in sorted(strict.anomaly_info.items()):
        grown = [r for r in info.reason if name not in ignored
                 and type_name(r.type) not in DRIFT_TYPES and (name, r.type) not in stopping]
        if grown:
            verdict.value_skew.append(f"{split}: feature '{name}': "
                                      + "; ".join(r.description or r.short_description for r in grown))
    verdict.drift = drift_measurements(strict, split)
    return verdict


def empty_cells(
    splits: Mapping[str, Statistics], schema: schema_pb2.Schema, limits: DataLimits, found: Verdict,
) -> Verdict:
    """Empty cells TFDV does not count as missing: CsvExampleGen writes an empty cell as a feature
    with no value, so a single-valued column's filled share is its number of values per row, over
    every split (a hash split of a few rows is no measure of a share). Below the schema's presence
    it is value skew, below the declared bound schema skew."""
    named = found.features("schema_skew") | found.features("value_skew")
    verdict = Verdict()
    datasets = [statistics.datasets[0] for statistics in splits.values() if statistics.datasets]
    rows = sum(dataset.num_examples for dataset in datasets)
    where = "+".join(splits)
    for feature in schema.feature:
        common = [_common_stats(dataset, feature.name) for dataset in datasets]
        if not rows or None in common or feature.name in named or not _expects_values(feature) \
                or max(c.max_num_values for c in common) > 1:
            continue
        filled = sum(c.tot_num_values for c in common) / rows
        line = (f"{where}: feature '{feature.name}': empty in {round(rows * (1 - filled))} of "
                f"{rows} rows ({1 - filled:.1%})")
        if filled < min(feature.presence.min_fraction, 1.0 - limits.max_missing_share):
            verdict.schema_skew.append(f"{line}, more than validation.max_missing_share allows")
        elif filled < feature.presence.min_fraction:
            verdict.value_skew.append(f"{line}, more than in training")
    return verdict


def _expects_values(feature: schema_pb2.Feature) -> bool:
    """Whether the schema's presence says how many rows have a value: a share under 1 (init writes
    the filled share it saw), or a value required in every present row. SchemaGen's inference
    counts a row with an empty cell as present (min_fraction 1.0, no value count): it says
    nothing about empty cells, so they are no finding against it."""
    presence = feature.presence.min_fraction
    required = (feature.HasField("value_count") and feature.value_count.min >= 1) or \
        bool(feature.shape.dim)
    return bool(presence) and (presence < 1.0 or required)


def _common_stats(dataset: Any, name: str) -> Any:
    """The present/value counts of one column of a dataset, by name or path; None if absent."""
    stats = _feature_stats(dataset, name)
    return None if stats is None else \
        getattr(stats, stats.WhichOneof("stats") or "num_stats").common_stats


def _feature_stats(dataset: Any, name: str) -> Any:
    """The statistics of one column of a dataset, by name or path."""
    for stats in dataset.features:
        if stats.name == name or list(stats.path.step) == [name]:
            return stats
    return None


def _only_new_column(anomalies: anomalies_pb2.Anomalies, name: str) -> bool:
    """Whether TFDV's only complaint about a column is that this environment does not list it."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    reasons = anomalies.anomaly_info[name].reason if name in anomalies.anomaly_info else []
    return bool(reasons) and all(
        r.type == anomalies_pb2.AnomalyInfo.SCHEMA_NEW_COLUMN for r in reasons)


def _drift_free(anomalies: anomalies_pb2.Anomalies) -> anomalies_pb2.Anomalies:
    """The anomalies without distance reasons (the bounded schema has no comparators, but a
    dataset-level count comparator may remain)."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    kept = type(anomalies).FromString(anomalies.SerializeToString())
    type_name = anomalies_pb2.AnomalyInfo.Type.Name
    reasons = [r for r in kept.dataset_anomaly_info.reason if type_name(r.type) not in DRIFT_TYPES]
    del kept.dataset_anomaly_info.reason[:]
    kept.dataset_anomaly_info.reason.extend(reasons)
    if not reasons:
        kept.ClearField("dataset_anomaly_info")
    return kept


def drift_measurements(anomalies: anomalies_pb2.Anomalies, split: str) -> list[Drift]:
    """The drift distances TFDV measured above their thresholds, per feature and measure."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    kind = anomalies_pb2.DriftSkewInfo.Measurement.Type.Name
    return [
        Drift(split, ".".join(info.path.step), kind(m.type).lower(), m.value, m.threshold)
        for info in anomalies.drift_skew_info for m in info.drift_measurements
        if m.value > m.threshold
    ]


def folder_verdict(files: list[Path], schema_path: Path | None, project: Project) -> Verdict:
    """`check-data`'s verdict on a folder's files: the statistics of every file as one dataset,
    judged as the DataGate judges a span (against SchemaGen's inference when no curated schema)."""
    import tensorflow_data_validation as tfdv

    if not files:
        return Verdict()
    schema = load_curated_schema(schema_path) if schema_path is not None else None
    location = str(files[0]) if len(files) == 1 else os.path.join(
        os.path.commonpath([str(f.parent) for f in files]), "*" + files[0].suffix)
    if schema is None:
        statistics = tfdv.generate_statistics_from_csv(location)
        schema = tfdv.infer_schema(statistics, infer_feature_shape=False)
    else:
        statistics = csv_statistics(location, schema)
    return judge({"data": statistics}, schema, project.validation, TRAINING, project=project)

