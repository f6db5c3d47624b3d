"""Why a pipeline run happened (`schedule`, `drift alert: <features>`, `live degradation:
<metric>`, `by hand`), recorded as a custom property of its run context in ML Metadata.

The local runner records it on the run LocalDagRunner just made; the Airflow DAG's first task
(store_check) records it before any component runs, from the DAG run's type and its conf, on the
run context TFX's legacy launcher then finds and reuses. `runs`, `lineage` and the MLflow mirror
read it back through pipeline.metadata.records.run_reason.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from ml_metadata import errors as mlmd_errors
from ml_metadata.proto import metadata_store_pb2

from pipeline.metadata import records
from pipeline.metadata.connection import LineageError, Store
from pipeline.vocabulary import (
    REASON_BY_HAND,
    REASON_CONF_KEY,
    REASON_SCHEDULE,
    RUN_REASON_PROPERTY,
)

MAX_REASON_CHARS = 300
# Airflow's DagRunType values, and the reason a run of that type has when its conf names none.
AIRFLOW_RUN_TYPES = {
    "scheduled": REASON_SCHEDULE,
    "manual": REASON_BY_HAND,
    "backfill": f"{REASON_SCHEDULE}: backfill",
    "dataset_triggered": f"{REASON_SCHEDULE}: dataset update",
}
# TFX's legacy launcher (AirflowDagRunner) names a run's context '<pipeline>.<run id>' of this type,
# with these string properties (tfx.orchestration.metadata.register_pipeline_contexts_if_not_exists).
LEGACY_RUN_PROPERTIES = ("pipeline_name", "run_id")


def reason_problem(text: object) -> str | None:
    """Why a text cannot be a run's reason (one line, 1 to 300 characters), or None."""
    if not isinstance(text, str) or not text.strip():
        return "must be a non-empty text"
    if "\n" in text or "\r" in text:
        return "must be one line"
    if len(text.strip()) > MAX_REASON_CHARS:
        return f"must be at most {MAX_REASON_CHARS} characters, got {len(text.strip())}"
    return None


def reason_argument(text: str) -> str:
    """argparse type of `run --reason`: the stripped text, or a usage error naming the flag."""
    problem = reason_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text.strip()


def airflow_reason(run_type: str, conf: Mapping[str, object] | None) -> str:
    """A DAG run's reason: its conf's `reason` (what a trigger from the loop's DAGs passes), else
    its type's (scheduled: schedule, manual: by hand); a conf reason that is not a one-line text
    is named as such rather than dropped."""
    default = AIRFLOW_RUN_TYPES.get(str(run_type), f"{REASON_BY_HAND} ({run_type} run)")
    given = (conf or {}).get(REASON_CONF_KEY)
    if given is None:
        return default
    problem = reason_problem(given)
    if problem:
        return f"{default} (conf '{REASON_CONF_KEY}' ignored: {problem})"
    return str(given).strip()


def record_reason(store: Store, run_name: str, reason: str) -> None:
    """Set the reason on a run context either launcher recorded; LineageError when there is none."""
    context = records.run_context_of(store, run_name)
    if context is None:
        raise LineageError(f"no run '{run_name}' in the metadata store to record its reason on")
    context.custom_properties[RUN_REASON_PROPERTY].string_value = reason
    store.put_contexts([context])


def record_airflow_reason(store: Store, pipeline_name: str, run_id: str, reason: str) -> None:
    """Record the reason of an Airflow DAG run before its first component: the run context is
    made as TFX's legacy launcher makes it (its type, name and properties), so the launcher finds
    it and attaches the run's executions; a retried first task finds it too."""
    name = f"{pipeline_name}.{run_id}"
    if records.run_context_of(store, name) is None:
        context_type = metadata_store_pb2.ContextType(name=records.LEGACY_RUN_CONTEXT)
        for key in LEGACY_RUN_PROPERTIES:
            context_type.properties[key] = metadata_store_pb2.STRING
        type_id = store.put_context_type(context_type, can_add_fields=True, can_omit_fields=True)
        context = metadata_store_pb2.Context(type_id=type_id, name=name)
        context.properties["pipeline_name"].string_value = pipeline_name
        context.properties["run_id"].string_value = run_id
        try:
            store.put_contexts([context])
        except mlmd_errors.AlreadyExistsError:
            pass  # made meanwhile by another attempt: set the reason on that one
    record_reason(store, name, reason)
