"""The bundled taxi data's column names, for the demo tooling (span generator, synthetic data)
and the taxi-specific tests. Platform code never reads this: it reads models/taxi/project.yaml.
Everything here comes from that declaration or is a column of the data; none of the project's
code (its label rule) is imported."""

from __future__ import annotations

from pipeline.config import MODELS_DIR
from pipeline.config.project import Treatment, load_project
from pipeline.vocabulary import WEIGHT_KEY, label_key

PROJECT = load_project("taxi", MODELS_DIR)


def _treated(treatment: Treatment) -> tuple[str, ...]:
    return tuple(f.name for f in PROJECT.features if f.treatment is treatment)


DENSE_FLOAT_FEATURE_KEYS = _treated(Treatment.NUMERIC)
BUCKET_FEATURE_KEYS = _treated(Treatment.BUCKETIZED)
VOCAB_FEATURE_KEYS = _treated(Treatment.VOCABULARY)
CATEGORICAL_FEATURE_MAX_VALUES = {
    f.name: f.max_value for f in PROJECT.features if f.treatment is Treatment.CATEGORICAL}
SLICE_FEATURE_KEYS = PROJECT.slices
LABEL_KEY = label_key(PROJECT.label)
# The columns the big-tipper label is computed from, in the declaration's order (label_columns).
TIPS_KEY, FARE_KEY = PROJECT.label_columns

# Columns the span generator derives from each trip's start time (UTC epoch seconds): month 1-12,
# day of week 1 (Sunday) to 7, hour 0-23.
TIMESTAMP_KEY = "trip_start_timestamp"
MONTH_KEY = "trip_start_month"
WEEKDAY_KEY = "trip_start_day"
HOUR_KEY = "trip_start_hour"

# The category whose mix the generator's drifted span shifts, and the values it moves between.
PAYMENT_TYPE_KEY = "payment_type"
DRIFT_FROM_VALUE = "Credit Card"
DRIFT_TO_VALUE = "Cash"


def raw_feature_keys() -> tuple[str, ...]:
    """The columns a client sends."""
    return PROJECT.feature_names


def label_source_keys() -> tuple[str, ...]:
    """The columns the big-tipper label is computed from."""
    return PROJECT.label_columns


__all__ = [
    "BUCKET_FEATURE_KEYS", "CATEGORICAL_FEATURE_MAX_VALUES",
    "DENSE_FLOAT_FEATURE_KEYS", "DRIFT_FROM_VALUE",
    "DRIFT_TO_VALUE", "FARE_KEY", "HOUR_KEY", "LABEL_KEY", "MONTH_KEY", "PAYMENT_TYPE_KEY",
    "SLICE_FEATURE_KEYS", "TIMESTAMP_KEY", "TIPS_KEY", "VOCAB_FEATURE_KEYS", "WEEKDAY_KEY",
    "WEIGHT_KEY", "raw_feature_keys", "label_source_keys",
]
