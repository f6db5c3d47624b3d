"""What a run logs to MLflow: the answer first, nothing undefined charted as a number."""

from __future__ import annotations

import csv
import io

from pipeline.config import store_config
from pipeline.mirror import run_view

TAXI = store_config({}).declaration
SLICES = {
    "payment_type/Cash": {"auc": 0.0, "binary_accuracy": 0.98, "example_count": 53.0, "mean_label": 0.0},
    "payment_type/Card": {"auc": 0.66, "binary_accuracy": 0.61, "example_count": 40.0, "mean_label": 0.6},
}


def test_a_slice_logs_its_primary_metric_only_and_none_when_undefined() -> None:
    recorded = {"metrics": {"auc": 0.94, "binary_accuracy": 0.84, "precision": float("nan")}}
    metrics = run_view._metrics(TAXI, recorded, SLICES)
    assert metrics == {"auc": 0.94, "accuracy": 0.84, "slice/payment_type/Card/auc": 0.66}


def test_the_slice_table_has_every_metric_and_says_why_a_value_is_missing() -> None:
    rows = {r["slice"]: r for r in csv.DictReader(io.StringIO(run_view.slice_table(TAXI, SLICES)))}
    assert rows["payment_type/Cash"]["auc"] == ""
    assert rows["payment_type/Cash"]["note"] == "auc: one class"
    assert rows["payment_type/Card"]["auc"] == "0.66"
    assert rows["payment_type/Card"]["accuracy"] == "0.61" and rows["payment_type/Card"]["note"] == ""
    small = run_view.slice_table(TAXI, {"hour/3": {"auc": 0.5, "example_count": 4.0, "mean_label": 0.5}})
    assert small.splitlines()[1].endswith("n < 30")


def test_the_applied_thresholds_and_the_baseline_are_params() -> None:
    evaluation = {"evalConfig": {"metricsSpecs": [{"metrics": [
        {"className": "ExampleCount"},
        {"className": "AUC", "perSliceThresholds": [{"slicingSpecs": [{}], "threshold": {
            "valueThreshold": {"lowerBound": 0.85}}}, {"slicingSpecs": [{}], "threshold": {
                "changeThreshold": {"direction": "HIGHER_IS_BETTER", "absolute": -1e-10}}}]},
    ]}]}}
    assert run_view.threshold_params(TAXI, evaluation) == {
        "threshold.auc": ">= 0.85, no worse than baseline"}
    recorded = {"metrics": {"auc": 0.94, "auc_diff": 0.04, "binary_accuracy": 0.8}}
    assert run_view.baseline_params(TAXI, recorded) == {"baseline.auc": "0.9"}
    assert run_view.baseline_params(TAXI, {"metrics": {"auc": 0.94}}) == {}


def test_source_and_commit_fill_mlflows_columns() -> None:
    tags = run_view.source_tags(TAXI, {"git_commit": "abc123"})
    assert tags["mlflow.source.git.commit"] == "abc123"
    assert tags["mlflow.source.name"] == "python -m pipeline run --project taxi"


def test_the_run_name_leads_with_the_answer() -> None:
    import datetime as dt

    from pipeline.metadata import provenance

    push = provenance.PushProvenance(True, "3", "", "pushed as version 3", "", dt.datetime.now())
    prov = provenance.ModelProvenance("r", push, None, None, None, None)
    blessed = {"metrics": {"auc": 0.9411, "mean_label": 0.3}, "blessed": True}
    assert run_view.headline(TAXI, "r", blessed, prov) == "auc 0.9411 blessed v3 | r"
    one_class = {"metrics": {"auc": 0.0, "mean_label": 1.0}, "blessed": False}
    unpushed = provenance.ModelProvenance("r", None, None, None, None, None)
    assert run_view.headline(TAXI, "r", one_class, unpushed) == "auc one class not blessed | r"
    assert run_view.headline(TAXI, "r", None, unpushed) == "r"


def test_the_reference_models_metrics_are_params_beside_the_models() -> None:
    reference = {"linear": {"auc": 0.9123456, "precision": float("nan")},
                 "majority": {"auc": 0.5, "recall": None}}
    assert run_view.reference_params(reference) == {
        "reference.linear.auc": "0.912346", "reference.majority.auc": "0.5"}
    assert run_view.reference_params({}) == {}
