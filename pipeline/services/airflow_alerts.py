"""Failure alerts of the project's DAGs, sent through an Airflow connection.

Every task of the pipeline and monitoring DAGs gets `notify_failure` as its on_failure_callback.
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
    from airflow.exceptions import AirflowNotFoundException
    from airflow.hooks.base import BaseHook

    try:
        connection = BaseHook.get_connection(connection_id)
    except AirflowNotFoundException:
        _log.info("no Airflow connection %r: failure not sent anywhere", connection_id)
        return
    try:
        _send(connection, failure_payload(context))
    except Exception:  # a broken channel must not hide the task's own failure
        _log.exception("could not send the failure alert through %r", connection_id)
