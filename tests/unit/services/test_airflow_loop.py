"""The loop's branching decisions, taken from the exit codes and --json answers the real `monitor`,
`feedback` and `promote` commands give (their handlers run through `python -m pipeline`'s main;
only the work behind each, which needs a trained model, is replaced by its real result type)."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from pipeline.__main__ import main
from pipeline.data.drift import Kind, Threshold
from pipeline.monitoring import skew_drift
from pipeline.monitoring.monitor_dag import monitor_decision
from pipeline.scoring import feedback as feedback_module
from pipeline.scoring import promotion
from pipeline.scoring.feedback import Comparison, FeedbackResult, ModelLive
from pipeline.scoring.feedback_dag import (
    fed_digests,
    feedback_decision,
    merged,
    promote_decision,
    remember,
    unfed_files,
)
from pipeline.services.airflow_loop import Answer, LoopTaskFailed
from tests.support.mlmd_fake import FakePipeline


def _answer(capsys, argv: list[str]) -> Answer:
    """`python -m pipeline ARGV` in this process, as the DAG task's subprocess would see it."""
    code = main(argv)
    captured = capsys.readouterr()
    return Answer(code, captured.out, captured.err)


def _check(feature: str, kind: Kind, value: float, comparison: str = "skew") -> skew_drift.FeatureCheck:
    return skew_drift.FeatureCheck(feature, kind, value, Threshold(0.1, 0.05, 0.2), comparison, 300)


@pytest.fixture
def monitored(tmp_path: Path, monkeypatch):
    """`monitor --json` on a store with a pipeline, its result set by the test."""
    FakePipeline(tmp_path / "metadata.sqlite", "taxi")
    (tmp_path / "window.csv").write_text("fare\n1\n")
    found: dict[str, skew_drift.MonitoringResult] = {}
    monkeypatch.setattr(skew_drift, "monitor", lambda *args, **kwargs: found["result"])
    argv = ["monitor", str(tmp_path / "window.csv"), "--metadata", str(tmp_path / "metadata.sqlite"),
            "--pipeline-name", "taxi", "--state-dir", str(tmp_path / "monitoring"),
            "--serving-config-dir", str(tmp_path / "serving-config"), "--json"]
    return found, argv


def test_a_clean_window_neither_alerts_nor_retrains(monitored, capsys) -> None:
    found, argv = monitored
    found["result"] = skew_drift.MonitoringResult(
        checks=[_check("fare", Kind.NUMERIC, 0.05)], rows=300,
        value=["feature 'fare': 2 values above the training range"])
    answer = _answer(capsys, argv)
    assert answer.code == 0
    decision = monitor_decision(answer)
    assert (decision.alert, decision.trigger) == (None, None)
    assert decision.summary == "OK: 300 rows, no threshold crossed"


def test_value_drift_alerts_and_retrains_naming_the_drifted_features(monitored, capsys) -> None:
    found, argv = monitored
    checks = [_check("fare", Kind.NUMERIC, 0.7), _check("payment_type", Kind.CATEGORICAL, 0.3),
              _check("payment_type", Kind.CATEGORICAL, 0.31, "drift"),
              _check("trip_miles", Kind.NUMERIC, 0.01)]
    found["result"] = skew_drift.MonitoringResult(
        skew=[checks[0].line(), checks[1].line()], drift=[checks[2].line()], checks=checks, rows=300)
    answer = _answer(capsys, argv)
    assert answer.code == 1
    decision = monitor_decision(answer)
    assert decision.trigger == "drift alert: fare, payment_type"
    assert decision.alert is not None and "SKEW   feature 'fare'" in decision.alert
    assert "DRIFT  feature 'payment_type'" in decision.alert


def test_schema_skew_alerts_and_never_retrains(monitored, capsys) -> None:
    found, argv = monitored
    drifted = _check("fare", Kind.NUMERIC, 0.7)
    found["result"] = skew_drift.MonitoringResult(
        schema=["feature 'company': column missing from the window"], skew=[drifted.line()],
        checks=[drifted], rows=300)
    answer = _answer(capsys, argv)
    assert answer.code == 1
    decision = monitor_decision(answer)
    assert decision.trigger is None
    assert decision.alert is not None and "SCHEMA feature 'company'" in decision.alert


def test_a_monitor_that_cannot_run_fails_the_task_with_its_error(tmp_path: Path, capsys) -> None:
    answer = _answer(capsys, ["monitor", str(tmp_path / "absent.csv"), "--metadata",
                              str(tmp_path / "none.sqlite"), "--json"])
    assert answer.code == 2
    with pytest.raises(LoopTaskFailed, match=r"monitor could not run \(exit 2\): error: "):
        monitor_decision(answer)


def _live(version: int, roles: tuple[str, ...], breaches: tuple[str, ...] = ()) -> ModelLive:
    return ModelLive(version, roles, 200, {"auc": 0.61, "accuracy": 0.7}, {}, breaches)


@pytest.fixture
def fed(tmp_path: Path, monkeypatch):
    """`feedback --json` with its result set by the test."""
    found: dict[str, FeedbackResult] = {}
    monkeypatch.setattr(feedback_module, "feedback", lambda config, labels: found["result"])
    labels = tmp_path / "labels.csv"
    labels.write_text("trip_id,big_tipper\nw1-0001,1\n")
    argv = ["feedback", "--project", "taxi", "--metadata", str(tmp_path / "m.sqlite"),
            "--labels", str(labels), "--json"]
    return found, argv, labels


def _feedback(models: tuple[ModelLive, ...], labels: Path) -> FeedbackResult:
    return FeedbackResult("f1", 3, 200, 4, ("x-1",), models, None, labels)


def test_a_served_model_below_its_live_bound_retrains_with_the_metric(fed, capsys) -> None:
    found, argv, labels = fed
    found["result"] = _feedback((_live(2, ("stable",), ("auc 0.6100 < min 0.7",)),), labels)
    answer = _answer(capsys, argv)
    assert answer.code == 1
    decision = feedback_decision(answer)
    assert decision.trigger == "live degradation: auc 0.6100 < min 0.7 (version 2)"
    assert decision.alert and "auc 0.6100 < min 0.7" in decision.alert
    assert decision.summary.startswith("batch 3: 200 labels, 4 never scored")


def test_a_canary_below_its_bound_in_shadow_neither_alerts_nor_retrains(fed, capsys) -> None:
    found, argv, labels = fed
    found["result"] = _feedback((_live(2, ("stable",)), _live(3, ("canary",), ("auc 0.6 < min 0.7",))),
                                labels)
    answer = _answer(capsys, argv)
    assert answer.code == 0
    decision = feedback_decision(answer)
    assert (decision.alert, decision.trigger) == (None, None)


def test_feedback_that_cannot_run_fails_the_task(tmp_path: Path, capsys) -> None:
    answer = _answer(capsys, ["feedback", "--project", "taxi", "--metadata",
                              str(tmp_path / "m.sqlite"), "--labels", str(tmp_path / "none.csv"),
                              "--json"])
    assert answer.code == 2
    with pytest.raises(LoopTaskFailed, match=r"feedback could not run \(exit 2\)"):
        feedback_decision(answer)


def _promotion(promoted: bool, rows: int, reason: str) -> promotion.PromotionResult:
    comparison = Comparison(1, 2, rows, {"auc": 0.8}, {"auc": 0.82}, promoted, "auc 0.82 vs 0.80")
    return promotion.PromotionResult(promoted, 1, 2, rows, 100, reason, comparison,
                                     {"stable": 2 if promoted else 1}, 7)


@pytest.mark.parametrize(("promoted", "rows", "reason", "expected"), [
    (True, 150, "canary version 2 vs stable version 1 on 150 labelled rows: ... (no worse)",
     "promoted: "),
    (False, 40, "canary version 2 vs stable version 1: only 40 labelled rows scored by both; "
                "promotion.min_labelled_rows is 100", "waiting for evidence: "),
])
def test_a_promotion_or_a_refusal_for_lack_of_evidence_is_a_success(
        tmp_path: Path, monkeypatch, capsys, promoted, rows, reason, expected) -> None:
    monkeypatch.setattr(promotion, "promote", lambda *args: _promotion(promoted, rows, reason))
    monkeypatch.setattr("pipeline.cli.feedback.aliases_after_rollback", lambda *args: None)
    answer = _answer(capsys, ["promote", "--project", "taxi", "--metadata", str(tmp_path / "m"),
                              "--config-dir", str(tmp_path), "--json"])
    assert answer.code == (0 if promoted else 1)
    assert promote_decision(answer).summary == expected + reason


def test_a_worse_canary_refused_on_enough_rows_fails_the_task(tmp_path: Path, monkeypatch,
                                                              capsys) -> None:
    reason = "canary version 2 vs stable version 1 on 150 labelled rows: auc 0.70 vs 0.80 (worse)"
    monkeypatch.setattr(promotion, "promote", lambda *args: _promotion(False, 150, reason))
    answer = _answer(capsys, ["promote", "--project", "taxi", "--metadata", str(tmp_path / "m"),
                              "--config-dir", str(tmp_path), "--json"])
    assert answer.code == 1
    with pytest.raises(LoopTaskFailed, match="canary refused on enough live labels: .*worse"):
        promote_decision(answer)


def test_a_promote_error_without_an_answer_fails_the_task() -> None:
    answer = Answer(1, "", "error: the prediction log is truncated mid-line\n")
    with pytest.raises(LoopTaskFailed, match="promote could not run .*truncated mid-line"):
        promote_decision(answer)


def test_each_labels_file_is_fed_once_and_a_folder_in_name_order(tmp_path: Path) -> None:
    folder = tmp_path / "labels"
    folder.mkdir()
    for name, text in (("week-2.csv", "id,y\n2,1\n"), ("week-1.csv", "id,y\n1,0\n")):
        (folder / name).write_text(text)
    (folder / "notes.txt").write_text("not labels")
    record = tmp_path / "state" / "fed.json"
    assert [p.name for p in unfed_files(folder, fed_digests(record))] == ["week-1.csv", "week-2.csv"]
    remember(record, folder / "week-1.csv")
    assert [p.name for p in unfed_files(folder, fed_digests(record))] == ["week-2.csv"]
    assert fed_digests(record) == {
        hashlib.sha256(b"id,y\n1,0\n").hexdigest(): str(folder / "week-1.csv")}
    # The same labels under a new name are not fed again; a single file is its own batch.
    (folder / "week-1-again.csv").write_text("id,y\n1,0\n")
    assert [p.name for p in unfed_files(folder, fed_digests(record))] == ["week-2.csv"]
    assert unfed_files(folder / "week-1.csv", fed_digests(record)) == []
    assert unfed_files(tmp_path / "absent", {}) == []


def test_several_batches_alert_together_and_retrain_once() -> None:
    first = feedback_decision(Answer(0, _json(_feedback((_live(1, ("stable",)),), Path("a"))), ""))
    second = feedback_decision(Answer(1, _json(_feedback(
        (_live(1, ("stable",), ("auc 0.6000 < min 0.7",)),), Path("b"))), ""))
    both = merged([first, second])
    assert both.trigger == second.trigger and both.alert == second.alert
    assert both.summary == f"{first.summary}; {second.summary}"


def _json(result: FeedbackResult) -> str:
    import json

    return json.dumps({**dataclasses.asdict(result), "labels_file": str(result.labels_file)})
