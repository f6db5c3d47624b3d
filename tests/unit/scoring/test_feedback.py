"""`feedback` without TensorFlow: live metrics computed by hand on tiny batches, labels joined to a
prediction log written here, bounds, the champion/challenger comparison, ML Metadata records and
every refusal (exit 2, nothing kept or recorded)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from pipeline.__main__ import main
from pipeline.config import STATE_DIR, store_config
from pipeline.config.project import Project, Threshold, parse_declaration
from pipeline.metadata import connection, live_evaluations
from pipeline.scoring import feedback as fb
from pipeline.scoring import prediction_log
from pipeline.scoring.live_metrics import Labelled, breaches, live_metrics, no_worse
from tests.support.csv_columns import write_csv
from tests.support.mlmd_fake import evaluated_and_pushed_runs

NAME = "feedbacktest"
DECLARATION = f"""
name: {NAME}
data: data/{NAME}
label: churned
task: binary
classes: ["no", "yes"]
positive_class: "yes"
id_column: customer
features: {{plan: vocabulary, calls: numeric}}
slices: [plan]
monitoring:
  live:
    auc: {{min: 0.7}}
"""


def binary(labels: list[str], positive: list[float]) -> Labelled:
    return Labelled(tuple(labels), tuple(
        {"probabilities_no": 1 - p, "probabilities_yes": p, "classes": "yes" if p >= 0.5 else "no"}
        for p in positive))


def project(text: str = DECLARATION) -> Project:
    return parse_declaration(text, Path("models") / NAME / "project.yaml")


def test_binary_metrics_are_those_computed_by_hand() -> None:
    rows = binary(["yes", "no", "yes", "no", "no"], [0.9, 0.6, 0.4, 0.2, 0.4])
    metrics = live_metrics(project(), rows)
    # Positives score 0.9 and 0.4; negatives 0.6, 0.2, 0.4: pairs won 3 + 1 + tie 0.5 of 6.
    assert metrics["auc"] == pytest.approx((3 + 1.5) / 6)
    assert metrics["accuracy"] == pytest.approx(3 / 5)      # 0.9 yes, 0.2 and 0.4 no right
    assert metrics["precision"] == pytest.approx(1 / 2)     # predicted yes: 0.9 (yes), 0.6 (no)
    assert metrics["recall"] == pytest.approx(1 / 2)
    assert metrics["calibration"] == pytest.approx(2.5 / 2)
    assert list(metrics) == ["auc", "accuracy", "precision", "recall", "calibration"]
    # One class only: AUC and recall are undefined, so they are left out, not invented.
    assert set(live_metrics(project(), binary(["no", "no"], [0.1, 0.7]))) == {
        "accuracy", "precision"}


def test_multiclass_and_regression_metrics() -> None:
    three = project(DECLARATION.replace('task: binary', 'task: multiclass').replace(
        'classes: ["no", "yes"]\npositive_class: "yes"', 'classes: [a, b, c]').replace(
        "auc: {min: 0.7}", "accuracy: {min: 0.5}"))
    rows = Labelled(("a", "b"), ({"probabilities_a": 0.5, "probabilities_b": 0.25,
                                  "probabilities_c": 0.25, "classes": "a"},
                                 {"probabilities_a": 0.5, "probabilities_b": 0.25,
                                  "probabilities_c": 0.25, "classes": "a"}))
    metrics = live_metrics(three, rows)
    assert metrics["accuracy"] == 0.5
    assert metrics["log_loss"] == pytest.approx(-(math.log(0.5) + math.log(0.25)) / 2)
    numbers = project(DECLARATION.replace("task: binary", "task: regression").replace(
        'classes: ["no", "yes"]\npositive_class: "yes"\n', "").replace(
        "auc: {min: 0.7}", "rmse: {max: 1.0}"))
    rows = Labelled(("1", "4"), ({"prediction": 2.0}, {"prediction": 2.0}))
    assert live_metrics(numbers, rows) == {"rmse": pytest.approx((2.5) ** 0.5), "mae": 1.5}


def test_bounds_and_the_no_worse_rule() -> None:
    bounds = (Threshold("auc", lower=0.7), Threshold("rmse", upper=2.0))
    assert breaches(bounds, {"auc": 0.65, "rmse": 2.5}) == ["auc 0.6500 < min 0.7",
                                                            "rmse 2.5000 > max 2"]
    assert breaches(bounds, {"auc": 0.7}) == []  # rmse undefined: crosses nothing
    assert no_worse(project(), {"auc": 0.8}, {"auc": 0.8}) == (True, "auc 0.8000 >= 0.8000")
    assert no_worse(project(), {"auc": 0.7}, {"auc": 0.8}) == (False, "auc 0.7000 < 0.8000")
    assert no_worse(project(), {}, {"auc": 0.8})[0] is False


def test_live_bounds_and_promotion_are_declared_and_checked() -> None:
    parsed = project(DECLARATION + "promotion: {mode: canary, min_labelled_rows: 50}\n")
    assert parsed.live_bounds == (Threshold("auc", lower=0.7),)
    assert (parsed.promotion.mode.value, parsed.promotion.min_labelled_rows) == ("canary", 50)
    assert Project.from_dict(parsed.to_dict()).live_bounds == parsed.live_bounds
    for bad, message in (("monitoring: {live: {rmse: {min: 1}}}", "monitoring.live: no metric 'rmse'"),
                         ("monitoring: {drift: 1}", "monitoring: unknown"),
                         ("monitoring: {live: {auc: 0.7}}", r"monitoring.live.auc: must be"),
                         ("promotion: {mode: later}", "promotion.mode"),
                         ("promotion: {min_labelled_rows: 0}", "min_labelled_rows")):
        text = DECLARATION.split("monitoring:")[0] + bad + "\n"
        with pytest.raises(Exception, match=message):
            project(text)


def test_labels_are_read_normalized_and_refused_naming_the_line(tmp_path: Path) -> None:
    declared = project()
    path = tmp_path / "labels.csv"
    path.write_text("customer,churned\nc1,yes\nc2, no\n")
    assert fb.read_labels(path, declared, "customer") == {"c1": "yes", "c2": "no"}
    path.write_text("\ufeffcustomer,churned,note\nc1,yes,x\n")  # a spreadsheet's BOM, extra column
    assert fb.read_labels(path, declared, "customer") == {"c1": "yes"}
    numbered = project(DECLARATION.replace('["no", "yes"]', '["0", "1"]').replace(
        'positive_class: "yes"', 'positive_class: "1"'))
    path.write_text("customer,churned\nc1,1.0\nc2,0\n")
    assert fb.read_labels(path, numbered, "customer") == {"c1": "1", "c2": "0"}
    for text, message in (
            ("id,churned\nc1,yes\n", r"labels.csv: no id column 'customer' \(columns: id, churned\)"),
            ("customer,label\nc1,yes\n", r"labels.csv: no label column 'churned'"),
            ("customer,churned\nc1,yes\nc1,no\n", r"line 3: duplicate id 'c1' \(first on line 2\)"),
            ("customer,churned\nc1,maybe\n", r"line 2: unknown label value 'maybe' \(classes: no, yes\)"),
            ("customer,churned\n,yes\n", r"line 2: empty id column 'customer'"),
            ("customer,churned\n", r"no labelled rows")):
        path.write_text(text)
        with pytest.raises(fb.FeedbackError, match=message):
            fb.read_labels(path, declared, "customer")


# --- the command, on a fake store with versions 1 and 2 pushed ----------------------------------

@pytest.fixture
def scored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A project with a store (versions 1 and 2 pushed) and an empty prediction log and feedback."""
    models = tmp_path / "models" / NAME
    models.mkdir(parents=True)
    (models / "project.yaml").write_text(DECLARATION)
    (tmp_path / "data" / NAME).mkdir(parents=True)
    monkeypatch.setenv("PIPELINE_MODELS_DIR", str(tmp_path / "models"))
    evaluated_and_pushed_runs(tmp_path / "metadata.sqlite", tmp_path, pipeline=NAME)
    folders = [prediction_log.log_dir(STATE_DIR, NAME), fb.feedback_dir(STATE_DIR, NAME)]
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    yield tmp_path
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def log_batch(batch: str, version: int, label: str, scores: dict[str, float]) -> Path:
    """One batch in the project's prediction log: each id's positive probability."""
    records = [{"id": i, "model": NAME, "version": version, "label": label,
                "outputs": {"probabilities_no": 1 - p, "probabilities_yes": p,
                            "classes": "yes" if p >= 0.5 else "no"},
                "features": {"plan": "basic" if n % 2 else "gold", "calls": n},
                "scored_at": "2026-01-01T00:00:00+00:00", "batch_id": batch}
               for n, (i, p) in enumerate(scores.items())]
    folder = prediction_log.log_dir(STATE_DIR, NAME)
    name = prediction_log.batch_name(f"2026-01-0{len(prediction_log.log_files(folder)) + 1}T00:00:00+00:00",
                                     batch)
    return prediction_log.publish(prediction_log.stage_batch(folder, name, records))


def run(root: Path, labels: dict[str, str], capsys: pytest.CaptureFixture) -> tuple[int, dict]:
    write_csv(root / "labels.csv", {"customer": list(labels), "churned": list(labels.values())})
    code = main(["feedback", "--project", NAME, "--metadata", str(root / "metadata.sqlite"),
                 "--labels", str(root / "labels.csv"), "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out else {}


def store(root: Path):
    return connection.open_metadata(store_config({}, {"metadata_path": root / "metadata.sqlite",
                                                      "pipeline_name": NAME}))


IDS = [f"c{n}" for n in range(8)]
TRUTH = dict(zip(IDS, ["yes", "no", "yes", "no", "yes", "no", "yes", "no"], strict=True))
GOOD = dict(zip(IDS, [0.9, 0.2, 0.8, 0.3, 0.7, 0.1, 0.6, 0.4], strict=True))   # auc 1.0
POOR = dict(zip(IDS, [0.4, 0.6, 0.3, 0.7, 0.9, 0.2, 0.1, 0.8], strict=True))   # auc 6/16 = 0.375


def test_feedback_measures_each_version_records_it_and_compares_on_common_rows(
        scored: Path, capsys: pytest.CaptureFixture) -> None:
    log_batch("b1", 1, "stable", GOOD)
    log_batch("b2", 2, "canary", {i: GOOD[i] for i in IDS[:6]})
    code, answer = run(scored, {**TRUTH, "never": "yes"}, capsys)
    assert code == 0 and not answer["breached"]
    assert (answer["labels"], answer["unscored"], answer["unscored_examples"]) == (9, 1, ["never"])
    [one, two] = answer["models"]
    assert (one["version"], one["roles"], one["rows"], one["metrics"]["auc"]) == (1, ["stable"], 8, 1.0)
    assert (two["version"], two["roles"], two["rows"]) == (2, ["canary"], 6)
    assert one["slices"]["plan"]["gold"]["rows"] == 4 and one["slices"]["plan"]["basic"]["rows"] == 4
    comparison = answer["comparison"]
    assert (comparison["champion"], comparison["challenger"], comparison["rows"]) == (1, 2, 6)
    assert comparison["no_worse"] is True
    kept = Path(answer["labels_file"])
    assert kept.parent == fb.feedback_dir(STATE_DIR, NAME) and kept.read_text().count("\n") == 10

    recorded = live_evaluations.live_evaluations(store(scored), NAME)
    assert [(r.model_version, r.step, r.rows) for r in recorded] == [("1", 1, 8), ("2", 1, 6)]
    assert recorded[0].metrics["auc"] == 1.0 and recorded[0].labels_uri == str(kept)
    assert recorded[0].slices["plan"]["gold"]["rows"] == 4

    # runs and lineage show the live metrics beside the eval metrics of the version.
    flags = ["--project", NAME, "--metadata", str(scored / "metadata.sqlite")]
    assert main(["runs", *flags, "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r["live"] and (r["live"]["metrics"]["auc"], r["live"]["step"]) for r in runs] == [
        (1.0, 1), (pytest.approx(1.0), 1)]
    assert main(["lineage", *flags, "--version", "1"]) == 0
    report = capsys.readouterr().out.split("Live metrics (feedback)")[1]
    assert "step 1" in report and "8 rows  auc 1.0000  accuracy 1.0000" in report

    # The second batch is step 2; a version whose served answers cross a bound exits 1.
    log_batch("b3", 1, "stable", POOR)
    code, answer = run(scored, TRUTH, capsys)
    assert code == 1 and answer["breached"] and answer["step"] == 2
    # The same as text: one line per version, its slices, the comparison and the alert.
    assert main(["feedback", *flags, "--labels", str(scored / "labels.csv")]) == 1
    text = capsys.readouterr().out.splitlines()
    assert text[0].startswith("feedback    batch 3 (") and "8 labels, 8 joined" in text[0]
    assert text[1].startswith("version 1 (stable)  rows 8  auc 0.3750  accuracy ")
    assert text[1].endswith("ALERT auc 0.3750 < min 0.7")
    # plan=basic holds the four "no" rows: AUC and recall are undefined there, so not shown.
    assert text[2] == "  slice plan=basic  rows 4  accuracy 0.2500  precision 0.0000"
    assert any(line.startswith("compare     canary version 2 vs stable version 1 on 6 rows")
               for line in text)
    assert answer["models"][0]["breaches"] == ["auc 0.3750 < min 0.7"]
    assert [r.step for r in live_evaluations.live_evaluations(store(scored), NAME)] == [
        1, 1, 2, 2, 3, 3]


def test_a_canary_below_the_bound_in_shadow_alerts_nobody(
        scored: Path, capsys: pytest.CaptureFixture) -> None:
    log_batch("b1", 1, "stable", GOOD)
    log_batch("b2", 2, "canary", POOR)
    code, answer = run(scored, TRUTH, capsys)
    assert code == 0 and answer["models"][1]["breaches"] == ["auc 0.3750 < min 0.7"]
    assert answer["comparison"]["no_worse"] is False


def test_refusals_exit_2_and_keep_or_record_nothing(
        scored: Path, capsys: pytest.CaptureFixture) -> None:
    code, _ = run(scored, TRUTH, capsys)
    assert code == 2
    path = log_batch("b1", 1, "stable", GOOD)
    code, _ = run(scored, {"x1": "yes", "x2": "no"}, capsys)
    assert code == 2
    path.write_text(path.read_text()[:-30])
    code, _ = run(scored, TRUTH, capsys)
    assert code == 2
    assert not fb.feedback_dir(STATE_DIR, NAME).exists() or not list(
        fb.feedback_dir(STATE_DIR, NAME).iterdir())
    assert live_evaluations.live_evaluations(store(scored), NAME) == []


def test_the_error_lines_name_what_is_at_fault(scored: Path, capsys: pytest.CaptureFixture) -> None:
    write_csv(scored / "labels.csv", {"customer": ["c1"], "churned": ["yes"]})
    args = ["feedback", "--project", NAME, "--metadata", str(scored / "metadata.sqlite"),
            "--labels", str(scored / "labels.csv")]
    assert main(args) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(
        f"error: no prediction log for project '{NAME}' in ")
    path = log_batch("b1", 1, "stable", GOOD)
    path.write_text(path.read_text()[:-30])
    assert main(args) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: {path}, line 8: truncated last line (no end of line; a crash while it was written?)")


# --- champion and challenger ------------------------------------------------------------------

def test_a_canary_push_then_promote_refuses_until_it_proves_itself(
        scored: Path, capsys: pytest.CaptureFixture) -> None:
    from pipeline.serving.canary import label_as_canary
    from pipeline.serving.server_config import read_plan

    (scored / "models" / NAME / "project.yaml").write_text(
        DECLARATION + "promotion: {mode: canary, min_labelled_rows: 6}\n")
    config_dir = scored / "serving_config"
    flags = ["--project", NAME, "--metadata", str(scored / "metadata.sqlite"),
             "--serving-dir", str(scored / "serving_model"), "--config-dir", str(config_dir)]
    config = store_config(
        {"PIPELINE_MODELS_DIR": str(scored / "models")},
        {"project": NAME, "metadata_path": scored / "metadata.sqlite",
         "serving_dir": scored / "serving_model"}, extra=("serving_dir", "model_name"))
    assert main(["promote", *flags]) == 1  # nothing labelled canary yet
    assert "error: no canary of model 'feedbacktest'" in capsys.readouterr().err
    assert label_as_canary(config, config_dir, 1, say=print) is None  # a first version: direct
    assert label_as_canary(config, config_dir, 2, say=print) == {"stable": 1, "canary": 2}
    assert label_as_canary(config, config_dir, 2, say=print) is None  # already the canary
    assert read_plan(config_dir / "models.config", NAME).labels == {"stable": 1, "canary": 2}
    assert "phase 2: canary -> version 2" in capsys.readouterr().out  # through move_labels

    def promote() -> tuple[int, dict]:
        code = main(["promote", *flags, "--json"])
        return code, json.loads(capsys.readouterr().out)

    log_batch("b1", 1, "stable", GOOD)
    log_batch("b1", 2, "canary", {i: GOOD[i] for i in IDS[:4]})
    assert run(scored, TRUTH, capsys)[0] == 0
    code, answer = promote()
    assert (code, answer["promoted"], answer["rows"]) == (1, False, 4)
    assert "only 4 labelled rows scored by both; promotion.min_labelled_rows is 6" in answer["reason"]

    log_batch("b2", 1, "stable", GOOD)
    log_batch("b2", 2, "canary", POOR)
    code, answer = promote()
    assert (code, answer["promoted"], answer["rows"]) == (1, False, 8)
    assert answer["reason"].endswith("auc 0.3750 < 1.0000 (worse)")
    assert read_plan(config_dir / "models.config", NAME).labels == {"stable": 1, "canary": 2}

    log_batch("b3", 1, "stable", GOOD)
    log_batch("b3", 2, "canary", GOOD)
    code, answer = promote()
    assert (code, answer["promoted"], answer["labels"]) == (0, True, {"stable": 2})
    assert read_plan(config_dir / "models.config", NAME).labels == {"stable": 2}

    recorded = live_evaluations.promotions(store(scored), NAME)
    assert [(p.promoted, p.stable, p.canary, p.rows) for p in recorded] == [
        (False, "1", "2", 4), (False, "1", "2", 8), (True, "1", "2", 8)]
    assert recorded[-1].evidence["canary_metrics"]["auc"] == 1.0
    assert recorded[1].evidence["canary_metrics"]["auc"] == pytest.approx(0.375)
    assert main(["promote", *flags]) == 1
    assert "error: no canary" in capsys.readouterr().err
