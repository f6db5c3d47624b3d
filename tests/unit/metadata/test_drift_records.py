"""Drift as ML Metadata records it: what a validator measured, shown by `runs`, and accepted
by `accept-drift` so the next run's DataGate goes on."""

from __future__ import annotations

import json
from pathlib import Path

from google.protobuf import struct_pb2

from pipeline.__main__ import main
from pipeline.metadata import drift
from pipeline.vocabulary import DRIFT_ACCEPTED_PROPERTY, DRIFT_PROPERTY, SPAN_PROPERTY
from tests.support.mlmd_fake import FakePipeline, evaluated_and_pushed_runs

MEASURED = [{"feature": "fare", "measure": "jensen_shannon_divergence", "distance": 0.31,
             "threshold": 0.1, "split": "train"}]


def validated(fake: FakePipeline, run_id: str, measured: list[dict]) -> None:
    """An ExampleValidator execution of span 3 in `run_id` that measured `measured`."""
    anomalies = fake.artifact("ExampleAnomalies", f"/anomalies/{run_id}")
    anomalies.custom_properties[SPAN_PROPERTY].int_value = 3
    anomalies.custom_properties["drift_baseline"].string_value = "/statistics/span-2"
    value = struct_pb2.Struct()
    value.update({"__value__": measured})
    anomalies.custom_properties[DRIFT_PROPERTY].struct_value.CopyFrom(value)
    fake.execute(run_id, "ExampleValidator", outputs={"anomalies": anomalies})


def drifted_run(path: Path, measured: list[dict]) -> FakePipeline:
    """A run whose validator of span 3 measured `measured` and whose DataGate stopped."""
    fake = FakePipeline(path)
    fake.execute("run-1", "CsvExampleGen", outputs={"examples": fake.artifact("Examples", "/e")})
    validated(fake, "run-1", measured)
    fake.execute("run-1", "DataGate", state="FAILED")
    return fake


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_runs_show_the_drift_a_run_measured(tmp_path: Path, capsys) -> None:
    store = tmp_path / "metadata.sqlite"
    fake = drifted_run(store, MEASURED)
    [record] = drift.run_drift(fake.store, "run-1")
    assert (record.feature, record.span, record.baseline, record.accepted) == (
        "fare", 3, "/statistics/span-2", False)
    assert record.distance == 0.31 and record.threshold == 0.1
    code, out, _ = cli(capsys, "runs", "--metadata", str(store))
    assert code == 0 and out.splitlines()[0].split()[-2:] == ["DRIFT", "REASON"]
    assert out.splitlines()[1].split()[-2:] == ["fare", "-"]
    code, out, _ = cli(capsys, "runs", "--metadata", str(store), "--json")
    assert json.loads(out)[0]["drift"][0]["feature"] == "fare"


def test_accept_drift_marks_what_drifted_and_records_who(tmp_path: Path, capsys) -> None:
    store = tmp_path / "metadata.sqlite"
    fake = drifted_run(store, MEASURED)
    code, out, _ = cli(capsys, "accept-drift", "--metadata", str(store), "--reason", "new tariff")
    assert code == 0, out
    assert "accepted   fare jensen_shannon_divergence 0.31 > 0.1 (span 3 train, accepted)" in out
    [anomalies] = drift.drift_anomalies(fake.store, "run-1")
    decision = json.loads(anomalies.custom_properties[DRIFT_ACCEPTED_PROPERTY].string_value)
    assert (decision["run"], decision["reason"]) == ("run-1", "new tariff")
    [acceptance] = fake.store.get_executions_by_type("DriftAcceptance")
    [event] = fake.store.get_events_by_execution_ids([acceptance.id])
    assert event.artifact_id == anomalies.id
    code, out, _ = cli(capsys, "runs", "--metadata", str(store))
    assert out.splitlines()[1].split()[-2:] == ["fare(accepted)", "-"]
    code, _, err = cli(capsys, "accept-drift", "--metadata", str(store))
    assert code == 1 and "accepted already" in err


def test_accept_drift_refuses_a_run_without_drift(tmp_path: Path, capsys) -> None:
    store = tmp_path / "metadata.sqlite"
    drifted_run(store, [])
    code, _, err = cli(capsys, "accept-drift", "--metadata", str(store))
    assert code == 1
    assert err.count("\n") == 1 and "measured no drift: nothing to accept" in err


def test_lineage_shows_the_drift_the_served_model_was_trained_on(tmp_path: Path, capsys) -> None:
    store = tmp_path / "metadata.sqlite"
    fake = evaluated_and_pushed_runs(store, tmp_path)
    validated(fake, "run-2", MEASURED)
    code, out, _ = cli(capsys, "lineage", "--metadata", str(store), "--latest")
    assert code == 0
    assert "  drift           fare jensen_shannon_divergence 0.31 > 0.1 (span 3 train)" in out
    code, out, _ = cli(capsys, "lineage", "--metadata", str(store), "--version", "1", "--json")
    assert json.loads(out)["drift"] == []
