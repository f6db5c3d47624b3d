"""The curated schema `init` proposes for a profile, as the text a reviewer reads and edits."""

from __future__ import annotations

import math
from typing import Any

from pipeline.config.project import Treatment
from pipeline.data.csv_table import INT
from pipeline.data.profile import Profile


def curated_schema(result: Profile) -> Any:
    """SchemaGen's inference from the statistics, tightened the way data/schema/schema.pbtxt is:
    presence from the observed rates, integer ranges of categorical features, the label absent at
    serving (TRAINING and SERVING environments), excluded columns kept but not checked."""
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2

    from pipeline.data.validation import SERVING, TRAINING

    schema = tfdv.infer_schema(result.statistics, infer_feature_shape=False)
    decisions = {d.column: d for d in result.decisions}
    for feature in schema.feature:
        decision = decisions[feature.name]
        column = result.columns[feature.name]
        if decision.role == "excluded":
            feature.presence.Clear()
            feature.presence.min_count = 0
            feature.ClearField("domain")
            feature.lifecycle_stage = schema_pb2.LifecycleStage.DEPRECATED
            continue
        if column.missing and column.present:
            # Observed share, rounded down to whole percents: a later span may miss a little more.
            feature.presence.min_fraction = math.floor(100 * (1 - column.missing_share)) / 100
            # CsvExampleGen writes an empty cell as the feature with no value, not as no feature:
            # such rows have 0 values, which value_count.min 1 would reject as an anomaly.
            feature.value_count.ClearField("min")
        if decision.feature and decision.feature.treatment is Treatment.CATEGORICAL:
            feature.int_domain.min = 0
            feature.int_domain.max = decision.feature.max_value - 1
            feature.int_domain.is_categorical = True
        elif column.numeric and column.minimum is not None and column.minimum >= 0 \
                and decision.role == "feature":
            domain = feature.int_domain if column.kind == INT else feature.float_domain
            domain.min = 0
        if decision.role == "label":
            if column.kind == INT and result.classes:
                feature.int_domain.min = min(int(c) for c in result.classes)
                feature.int_domain.max = max(int(c) for c in result.classes)
                feature.int_domain.is_categorical = True
            feature.not_in_environment.append(SERVING)
    used = {f.domain for f in schema.feature if f.HasField("domain")}
    kept = [d for d in schema.string_domain if d.name in used]
    del schema.string_domain[:]
    schema.string_domain.extend(kept)
    label_domain = next((f.domain for f in schema.feature if f.name == result.label and f.domain), None)
    if result.classes and label_domain:
        domain = next(d for d in schema.string_domain if d.name == label_domain)
        missing = [c for c in result.classes if c not in domain.value]
        domain.value.extend(missing)
    schema.default_environment.extend([TRAINING, SERVING])
    return schema


def schema_text(schema: Any, result: Profile) -> str:
    """The schema as text, with a header saying where it came from."""
    from google.protobuf import text_format

    files = ", ".join(str(f) for f in result.files[:3]) + (" ..." if len(result.files) > 3 else "")
    header = (f"# Curated schema inferred by `python -m pipeline init` from {result.rows} rows of "
              f"{files}.\n# SchemaGen's inference, then: presence from the observed rates, integer "
              "ranges of categorical\n# features, the label absent at SERVING, excluded columns kept "
              "but DEPRECATED (not checked).\n# ExampleValidator checks every span against it: "
              "review and tighten it by hand.\n")
    return header + text_format.MessageToString(schema)
