"""The DataGate's success callback on Airflow: a run that trains on drifted data alerts through
the project's alert connection, with what drifted as ML Metadata recorded it; a run without
drift sends nothing."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from pipeline.config import store_config
from pipeline.services import airflow_alerts
from tests.support.webhook import webhook_receiver
from tests.unit.metadata.test_drift_records import MEASURED, drifted_run

# Imports Airflow: `make test-unit` skips it, `make test` runs it.
pytestmark = pytest.mark.slow


def context() -> dict[str, object]:
    task = SimpleNamespace(dag_id="taxi", task_id="DataGate", run_id="scheduled__1",
                           log_url="http://airflow/log", try_number=1)
    return {"task_instance": task}


@pytest.mark.parametrize("measured", [MEASURED, []], ids=["drift", "none"])
def test_a_drifted_run_alerts_through_the_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, measured: list[dict]
) -> None:
    store = tmp_path / "metadata.sqlite"
    drifted_run(store, measured)
    config = store_config({}, {"metadata_path": store})
    with webhook_receiver() as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_PIPELINE_ALERTS", receiver.url)
        airflow_alerts.notify_drift(airflow_alerts.DEFAULT_CONNECTION, config, context())
    if not measured:
        assert receiver.received == []
        return
    [(path, payload)] = receiver.received
    assert path == "/alerts" and payload["dag_id"] == "taxi"
    assert payload["drift"] == "fare jensen_shannon_divergence 0.31 > 0.1 (span 3 train)"
    assert payload["text"].startswith("Drift in taxi run scheduled__1: fare")
