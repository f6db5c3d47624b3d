"""The single source of truth for feature names, kinds and the label of the bundled taxi model.

Preprocessing, the model, the evaluation config, the serving signatures and the test data
generators all read these lists, so adapting the project to another CSV means editing this file
(and the label rule in `models/preprocessing.py`), not the pipeline.
"""

from __future__ import annotations

# Numeric features scaled to z-scores and also bucketized by quantiles.
DENSE_FLOAT_FEATURE_KEYS: tuple[str, ...] = ("fare", "trip_miles", "trip_seconds")

# Numeric features only bucketized (coordinates: the bucket is what carries meaning).
BUCKET_FEATURE_KEYS: tuple[str, ...] = (
    "pickup_latitude",
    "pickup_longitude",
    "dropoff_latitude",
    "dropoff_longitude",
)

# Integer features used as categories, with the number of distinct ids each can take.
CATEGORICAL_FEATURE_MAX_VALUES: dict[str, int] = {
    "trip_start_hour": 24,
    "trip_start_day": 8,
    "trip_start_month": 13,
    "pickup_community_area": 78,
    "dropoff_community_area": 78,
}

# String features mapped to ids through a vocabulary computed by Transform.
VOCAB_FEATURE_KEYS: tuple[str, ...] = ("payment_type", "company")

# Columns present in the CSV that are not model inputs (label sources, ids, sparse junk).
NON_FEATURE_COLUMNS: tuple[str, ...] = (
    "tips",
    "trip_start_timestamp",
    "pickup_census_tract",
    "dropoff_census_tract",
)

FEATURE_BUCKET_COUNT = 10
DENSE_BUCKET_COUNT = 40
VOCAB_SIZE = 1000
OOV_SIZE = 10

# The label: a trip is a "big tipper" when tips > BIG_TIP_FRACTION * fare.
LABEL_KEY = "big_tipper"
TIPS_KEY = "tips"
FARE_KEY = "fare"
BIG_TIP_FRACTION = 0.2

# Rows whose fare is missing or zero have no tip percentage: they get weight 0 in training and
# evaluation (kept in the data statistics, excluded from loss and metrics).
WEIGHT_KEY = "example_weight"

# Features the Evaluator slices metrics by, besides the overall slice.
SLICE_FEATURE_KEYS: tuple[str, ...] = ("trip_start_hour", "payment_type")


def transformed_name(key: str) -> str:
    """Name of a feature after Transform, kept distinct so raw and transformed never collide."""
    return f"{key}_xf"


def bucketized_name(key: str) -> str:
    """Name of the quantile-bucket id of a dense feature."""
    return f"{key}_bucket_xf"


def raw_feature_keys() -> tuple[str, ...]:
    """All raw columns the model reads at serving time, in a stable order."""
    return (
        DENSE_FLOAT_FEATURE_KEYS
        + BUCKET_FEATURE_KEYS
        + tuple(CATEGORICAL_FEATURE_MAX_VALUES)
        + VOCAB_FEATURE_KEYS
    )


def label_source_keys() -> tuple[str, ...]:
    """Raw columns the label is derived from; they must be present in training data."""
    return (TIPS_KEY, FARE_KEY)


def categorical_cardinalities() -> dict[str, int]:
    """Number of ids of every categorical model input, keyed by its transformed name."""
    sizes = {transformed_name(k): n for k, n in CATEGORICAL_FEATURE_MAX_VALUES.items()}
    sizes.update({transformed_name(k): VOCAB_SIZE + OOV_SIZE for k in VOCAB_FEATURE_KEYS})
    sizes.update({transformed_name(k): FEATURE_BUCKET_COUNT for k in BUCKET_FEATURE_KEYS})
    sizes.update({bucketized_name(k): DENSE_BUCKET_COUNT for k in DENSE_FLOAT_FEATURE_KEYS})
    return sizes


def numeric_model_inputs() -> tuple[str, ...]:
    """Transformed names of the z-scored numeric model inputs."""
    return tuple(transformed_name(k) for k in DENSE_FLOAT_FEATURE_KEYS)


# Columns the span generator (pipeline/spans.py) derives from each trip's start time (UTC epoch
# seconds): month 1-12, day of week 1 (Sunday) to 7, hour 0-23.
TIMESTAMP_KEY = "trip_start_timestamp"
MONTH_KEY = "trip_start_month"
WEEKDAY_KEY = "trip_start_day"
HOUR_KEY = "trip_start_hour"

# The category whose mix the generator's drifted span shifts, and the values it moves between.
PAYMENT_TYPE_KEY = "payment_type"
DRIFT_FROM_VALUE = "Credit Card"
DRIFT_TO_VALUE = "Cash"
