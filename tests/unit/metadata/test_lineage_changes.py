"""Lineage a reviewer trusts: every change of the declaration or the flags between two runs is
named by `diff` and `lineage` (field, old -> new), thresholds included; `lineage` and `versions`
print the same code fingerprint; NaN equals NaN."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from pipeline.__main__ import main
from pipeline.metadata import provenance
from tests.support.configs import small_config
from tests.support.mlmd_fake import FakePipeline

BLESSED_CODE, REFUSED_CODE = "code-fp-1", "code-fp-2"


def _context(threshold: float, steps: int) -> str:
    """A run's recorded config: taxi's declaration with its auc bound, and its flags."""
    from pipeline.config.record import config_record

    config = small_config(Path("/unused"), train_steps=steps)
    record = config_record(config)
    declaration = dict(record["declaration"])  # type: ignore[call-overload]
    declaration["thresholds"] = [{"metric": "auc", "lower": threshold, "upper": None}]
    return json.dumps({**record, "declaration": declaration}, sort_keys=True)


def _run(fake: FakePipeline, run_id: str, number: int, code: str, config: str, examples) -> None:
    """One run that records its context, trains on `examples` and pushes version `number`."""
    fake.execute(run_id, "RecordRunContext", outputs={"run_context": fake.artifact(
        "RunContext", f"/root/ctx/{run_id}", code_fingerprint=code, config=config)})
    model = fake.execute(run_id, "Trainer", inputs={"examples": examples}, outputs={"model": fake.artifact(
        "Model", f"/root/model/{run_id}")}, custom_config=json.dumps(
        {"code_fingerprint": f"trainer-key-{number}", "hyperparameters": {}}))["model"]
    fake.execute(run_id, "ServingPusher", inputs={"model": model}, outputs={
        "pushed_model": fake.artifact("PushedModel", f"/root/pushed/{run_id}", pushed=1,
                                      pushed_version=str(number),
                                      pushed_destination=f"/serving/{number}",
                                      push_decision="pushed", model_fingerprint="f")})


@pytest.fixture
def store(tmp_path: Path) -> str:
    """Two pushed runs: the second lowered the auc threshold and trained longer."""
    fake = FakePipeline(tmp_path / "metadata.sqlite")
    examples = fake.execute("run-1", "CsvExampleGen", input_base="/data", outputs={
        "examples": fake.artifact("Examples", "/root/examples", span=0,
                                  split_names='["train", "eval"]')})["examples"]
    _run(fake, "run-1", 1, BLESSED_CODE, _context(0.95, 10), examples)
    fake.execute("run-2", "CsvExampleGen", state="CACHED", outputs={"examples": examples})
    _run(fake, "run-2", 2, REFUSED_CODE, _context(0.6, 20), examples)
    return str(tmp_path / "metadata.sqlite")


def test_diff_names_a_threshold_and_a_flag_change(store: str, capsys) -> None:
    assert main(["diff", "run-1", "run-2", "--metadata", store]) == 0
    rows = {line[1:].split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    threshold = rows["config.declaration.thresholds.auc.lower"]
    assert threshold.startswith("*") and threshold.split()[-2:] == ["0.9500", "0.6000"]
    assert rows["config.train_steps"].startswith("*")
    assert not rows["config.declaration.label"].startswith("*")
    assert main(["diff", "run-1", "run-2", "--metadata", store, "--json"]) == 0
    different = json.loads(capsys.readouterr().out)["different"]
    assert "config.declaration.thresholds.auc.lower" in different


def test_lineage_names_the_threshold_change_and_versions_agree_on_the_code(store: str,
                                                                          capsys) -> None:
    assert main(["lineage", "--metadata", store]) == 0
    out = capsys.readouterr().out
    assert "config.declaration.thresholds.auc.lower  0.9500 -> 0.6000" in out
    assert "config.train_steps" in out
    code_line = next(line for line in out.splitlines() if line.strip().startswith("code "))
    assert REFUSED_CODE in code_line and "trainer-key-2" in out
    assert main(["versions", "--metadata", store]) == 0
    versions = capsys.readouterr().out
    assert f"code_fingerprint {REFUSED_CODE}" in " ".join(versions.split())
    assert main(["lineage", "--metadata", store, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["provenance"]["training"]["code_fingerprint"] == REFUSED_CODE
    assert {"fact": "config.declaration.thresholds.auc.lower", "before": 0.95, "after": 0.6} \
        in report["changes"]


def test_nan_equals_nan() -> None:
    assert provenance.same_value(math.nan, math.nan)
    assert provenance.same_value({"auc": [math.nan]}, {"auc": [math.nan]})
    assert not provenance.same_value(math.nan, 0.5)
    before = provenance.ModelProvenance(None, None, None, None, None, provenance.EvaluationProvenance(
        None, True, {"calibration": math.nan}, None, []))
    after = dataclasses.replace(before, run_id="b")
    assert provenance.changes(before, after) == [("run_id", None, "b")]
