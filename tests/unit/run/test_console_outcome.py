"""What a not-blessed or imbalanced run tells its reader: each bound and the field or flag that
sets it, the base rate, why a metric is undefined, and the outcome a script reads (`run --json`)."""

from __future__ import annotations

import math
import os
from pathlib import Path

from ml_metadata.proto import metadata_store_pb2

from pipeline.cli.run import summary_record
from pipeline.config.project import Feature, Project, Task, Threshold, Treatment
from pipeline.logs import relative_paths, shown_path
from pipeline.metadata.summary import RunSummary
from pipeline.run.console import bound_sources, format_summary, metric_notes, threshold_text
from pipeline.vocabulary import DECISION_THRESHOLD_PROPERTY, MODEL_KEY, TRAINER, DecisionThreshold


def binary(thresholds: tuple[Threshold, ...] = ()) -> Project:
    return Project(name="p", data="d", label="y", task=Task.BINARY, classes=("no", "yes"),
                   positive_class="yes", features=(Feature("x", Treatment.NUMERIC),),
                   thresholds=thresholds, baseline_margin=0.01)


GATE = {"metric": "auc", "tfma_class": "AUC", "lower": 0.79, "upper": None, "baseline": "linear",
        "value": 0.8, "margin": 0.01}


def test_each_bound_names_the_field_or_flag_that_sets_it() -> None:
    text = bound_sources(binary((Threshold("auc", lower=0.7),)), GATE)
    assert "auc >= 0.79: linear baseline 0.8000 minus metrics.baseline_margin 0.01" in text
    assert "auc: metrics.thresholds.auc (or --threshold auc=X)" in text
    assert "no worse than the serving model on auc: metrics.no_worse_than_serving" in text
    assert "--threshold METRIC=X adds an absolute bound" in bound_sources(binary(), {})


def test_binary_notes_give_the_base_rate_and_why_a_metric_is_undefined() -> None:
    notes = metric_notes(binary(), {"auc": 0.6, "precision": math.nan, "mean_label": 0.1})
    assert notes[0].startswith("base rate 0.1000 (positive share of eval rows): always predicting "
                               "'no' scores accuracy 0.9000")
    assert notes[1] == "precision undefined: no eval row is predicted positive at the 0.5 cut"


def test_a_not_blessed_summary_and_its_record_for_scripts(tmp_path: Path) -> None:
    summary = RunSummary("run-1", [], {"auc": 0.7, "binary_accuracy": math.nan}, False,
                         "auc 0.7000 failed lower bound 0.79 by 0.0900", None, None, "not blessed")
    text = format_summary(summary, binary(), tmp_path / "m.sqlite", None)
    assert "model      NOT BLESSED (auc 0.7000 failed lower bound 0.79 by 0.0900)" in text
    assert "\nbounds     " in text and "accuracy undefined" in text
    record = summary_record(summary, binary())
    assert record["status"] == "not_blessed" and record["blessed"] is False
    assert record["metrics"]["auc"] == 0.7


def test_paths_under_the_working_directory_are_shown_relative() -> None:
    assert shown_path(Path(os.getcwd()) / "state" / "m.sqlite") == os.path.join("state", "m.sqlite")
    assert shown_path("/elsewhere/m.sqlite") == "/elsewhere/m.sqlite"
    assert shown_path("gs://bucket/root") == "gs://bucket/root"


def test_the_threshold_line_gives_the_rule_and_precision_and_recall_at_the_cut() -> None:
    record = DecisionThreshold(0.3127, "precision_at", 0.9, 0.8, 0.41, 226, None, 0.0, 76,
                               reached=False)
    assert threshold_text(binary(), record) == (
        "0.3127 by precision_at 0.9 on 226 training rows (precision_at 0.9 not reached on the "
        "training split): precision undefined recall 0.0000 on 76 eval rows (train 0.8000 / "
        "0.4100); score and predict call 'yes' from it (the eval line's precision and recall: at 0.5)")
    assert threshold_text(binary(), None).startswith("0.5 (none recorded")


def test_the_summary_of_a_binary_run_has_a_threshold_line_and_its_record(tmp_path: Path) -> None:
    from pipeline.metadata import records

    model = metadata_store_pb2.Artifact(id=7)
    record = DecisionThreshold(0.25, "max_f1", None, 0.6, 0.7, 100, 0.5, 0.6, 30)
    model.custom_properties[DECISION_THRESHOLD_PROPERTY].string_value = record.to_json()
    trainer = records.ComponentRun(TRAINER, "COMPLETE", None, None, metadata_store_pb2.Execution(),
                                   {MODEL_KEY: [model]})
    summary = RunSummary("run-1", [trainer], {"auc": 0.8}, True, "ok", "1", "/s/1", "pushed")
    assert "\nthreshold  0.2500 by max_f1 on 100 training rows: precision 0.5000 recall 0.6000" in (
        format_summary(summary, binary(), tmp_path / "m.sqlite", None))
    assert summary_record(summary, binary())["decision_threshold"]["threshold"] == 0.25


def test_messages_show_paths_under_the_working_directory_relative() -> None:
    here = os.getcwd()
    text = (f"error: no canary in {here}/serving/taxi/models.config (see '{here}/state/logs/x.log'); "
            f"file://{here}/a stays, {here}-other/b and /elsewhere/c too; here itself: {here}")
    assert relative_paths(text) == (
        "error: no canary in serving/taxi/models.config (see 'state/logs/x.log'); "
        f"file://{here}/a stays, {here}-other/b and /elsewhere/c too; here itself: {here}")
