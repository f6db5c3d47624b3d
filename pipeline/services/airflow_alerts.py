"""Failure alerts of the project's DAGs, sent through an Airflow connection.

Every task of the pipeline and monitoring DAGs gets `notify_failure` as its on_failure_callback;
the DataGate also gets `notify_drift` as its on_success_callback: a run that trains on drifted
data (validation.drift: retrain) says so through the same channel.
It looks up the connection named by PIPELINE_AIRFLOW_ALERT_CONNECTION (default `pipeline_alerts`,
defined like any Airflow connection: in the UI, a secrets backend or `AIRFLOW_CONN_PIPELINE_ALERTS`):

- an `http`/`https` connection: a JSON POST to its URL (any webhook; a Slack incoming webhook
  reads its `text` field);
- an `email` connection: an e-mail to the connection's login address through Airflow's SMTP settings.

No such connection: the failure is only logged, as Airflow does anyway.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Mapping
from typing import Any

from pipeline.config import PipelineConfig
from pipeline.metadata import connection, drift, records
from pipeline.metadata.drift import DriftRecord

DEFAULT_CONNECTION = "pipeline_alerts"
TIMEOUT_SECONDS = 10.0
_log = logging.getLogger(__name__)


def failure_payload(context: Mapping[str, Any]) -> dict[str, str]:
    """What a person needs to act on a failed task: which DAG, task and run, and its log."""
    ti = context["task_instance"]
    error = context.get("exception")
    return {
        "text": f"Airflow task failed: {ti.dag_id}.{ti.task_id} in run {ti.run_id} ({ti.log_url})",
        "dag_id": ti.dag_id,
        "task_id": ti.task_id,
        "run_id": ti.run_id,
        "try_number": str(ti.try_number),
        "log_url": ti.log_url,
        "error": "" if error is None else f"{type(error).__name__}: {error}"[:2000],
    }


def post_json(url: str, payload: Mapping[str, str], headers: Mapping[str, str]) -> int:
    """POST the payload as JSON; the HTTP status."""
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method="POST",
        headers={"Content-Type": "application/json", **headers},
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        return int(response.status)


def _webhook_url(connection: Any) -> str:
    """The webhook URL: a full URL in the host field, else rebuilt from a URI-style connection
    (`http://host:port/path` puts the path in Airflow's `schema` field)."""
    host = connection.host or ""
    if "://" in host:
        return host
    port = f":{connection.port}" if connection.port else ""
    path = f"/{connection.schema}" if connection.schema else ""
    return f"{connection.conn_type}://{host}{port}{path}"


def _send(connection: Any, payload: Mapping[str, str]) -> None:
    """Deliver through the connection's channel."""
    if connection.conn_type in ("http", "https"):
        headers = {str(k): str(v) for k, v in (connection.extra_dejson or {}).items()
                   if isinstance(v, str)}
        post_json(_webhook_url(connection), payload, headers)
    elif connection.conn_type == "email":
        from airflow.utils.email import send_email

        send_email(connection.login, payload["text"], json.dumps(payload, indent=2))
    else:
        _log.warning("alert connection type %r is not supported (http, https, email)",
                     connection.conn_type)


def notify_failure(connection_id: str, context: Mapping[str, Any]) -> None:
    """on_failure_callback: alert through the connection; never raise (the task already failed)."""
    _deliver(connection_id, failure_payload(context))


def drift_payload(context: Mapping[str, Any], drifts: list[DriftRecord]) -> dict[str, str]:
    """What drifted in this run, which trains on it: DAG, task, run, log, and each distance."""
    ti = context["task_instance"]
    measured = "; ".join(record.text() for record in drifts)
    return {
        "text": f"Drift in {ti.dag_id} run {ti.run_id}: {measured}. The run trains on it; "
                f"the Evaluator decides whether the model ships ({ti.log_url})",
        "dag_id": ti.dag_id,
        "task_id": ti.task_id,
        "run_id": ti.run_id,
        "log_url": ti.log_url,
        "drift": measured,
    }


def notify_drift(connection_id: str, config: PipelineConfig, context: Mapping[str, Any]) -> None:
    """The DataGate's on_success_callback: alert on the drift its run recorded in ML Metadata and
    goes on training with (validation.drift: retrain); never raise (the run goes on)."""
    try:
        store = connection.open_metadata(config)
        drifts = drift.run_drift(store, records.latest_run_id(store, config.pipeline_name))
    except Exception:  # reading the record must not fail the run it describes
        _log.exception("could not read the drift the run recorded")
        return
    if drifts:
        _deliver(connection_id, drift_payload(context, drifts))


def _deliver(connection_id: str, payload: Mapping[str, str]) -> None:
    """Send through the connection when it exists; a broken channel is logged, never raised."""
    from airflow.exceptions import AirflowNotFoundException
    from airflow.hooks.base import BaseHook

    try:
        channel = BaseHook.get_connection(connection_id)
    except AirflowNotFoundException:
        _log.info("no Airflow connection %r: alert not sent anywhere", connection_id)
        return
    try:
        _send(channel, payload)
    except Exception:  # a broken channel must not hide the task's own outcome
        _log.exception("could not send the alert through %r", connection_id)
