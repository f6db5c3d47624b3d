"""`accept-drift`: a human's decision that the drift which stopped a run (`validation: {drift:
stop}`) is the new reality, recorded in ML Metadata so the next run trains on it.

The decision is a DriftAcceptance execution that read the validators' anomalies it accepts, and
a `drift_accepted` mark on each of those artifacts: the DataGate of the next run reads the same
artifacts (the validators come from TFX's cache when the data did not change) and goes on.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json

from ml_metadata.proto import metadata_store_pb2

from pipeline.config import PipelineConfig
from pipeline.errors import WorkFailed
from pipeline.metadata import connection, drift, records
from pipeline.vocabulary import ANOMALIES_KEY, DRIFT_ACCEPTED_PROPERTY

DRIFT_ACCEPTANCE = "DriftAcceptance"


def accept_drift(config: PipelineConfig, reason: str) -> tuple[str, list[drift.DriftRecord]]:
    """Mark every drift the latest run measured as accepted; its run id and what was accepted.
    WorkFailed when the latest run measured none, or all of it was accepted already."""
    store = connection.open_metadata(config, read_only=False)
    run_id = records.latest_run_id(store, config.pipeline_name)
    found = drift.drift_anomalies(store, run_id)
    pending = [a for a in found if DRIFT_ACCEPTED_PROPERTY not in a.custom_properties]
    if not found:
        raise WorkFailed(f"the latest run {run_id} of pipeline '{config.pipeline_name}' measured "
                         "no drift: nothing to accept")
    if not pending:
        raise WorkFailed(f"the drift of run {run_id} was accepted already: run the pipeline")
    decision = json.dumps({"run": run_id, "by": getpass.getuser(), "reason": reason,
                           "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})
    for artifact in pending:
        artifact.custom_properties[DRIFT_ACCEPTED_PROPERTY].string_value = decision
    execution_type = store.put_execution_type(metadata_store_pb2.ExecutionType(name=DRIFT_ACCEPTANCE))
    execution = metadata_store_pb2.Execution(
        type_id=execution_type, last_known_state=metadata_store_pb2.Execution.COMPLETE)
    execution.custom_properties["pipeline_name"].string_value = config.pipeline_name
    execution.custom_properties["decision"].string_value = decision
    # One transaction: the marks on the anomalies and the execution that made them.
    store.put_execution(execution, [(artifact, _input(artifact.id)) for artifact in pending],
                        contexts=[])
    return run_id, drift.run_drift(store, run_id)


def _input(artifact_id: int) -> metadata_store_pb2.Event:
    """The acceptance read this anomalies artifact."""
    event = metadata_store_pb2.Event(type=metadata_store_pb2.Event.INPUT, artifact_id=artifact_id)
    event.path.steps.add().key = ANOMALIES_KEY
    return event
