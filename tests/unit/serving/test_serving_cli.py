"""serving-config and rollback work on a project's model: --project picks its store, pipeline,
model name and output folder; run settings (its data dir) are not read."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.__main__ import main
from pipeline.serving import server_config


def test_serving_config_and_rollback_follow_the_project(other_project: Path, capsys) -> None:
    flags = ["--project", "other", "--metadata", str(other_project / "other.sqlite"),
             "--serving-dir", str(other_project / "serving_model")]
    assert main(["serving-config", *flags]) == 0
    output = other_project / "serving" / "other"
    plan = server_config.read_plan(output / server_config.MODELS_CONFIG, "other")
    assert plan.base_path == f"{other_project / 'serving_model'}/other"
    assert (plan.versions, plan.labels) == ((1, 2), {"stable": 2})
    assert main(["rollback", *flags, "--to", "1", "--reason", "drill"]) == 0
    (record,) = server_config.audit_records(output)
    assert (record["model"], record["from"], record["to"]) == ("other", 2, 1)
    assert "stable: version 2 -> 1" in capsys.readouterr().out


def test_serving_config_does_not_take_run_flags(capsys) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["serving-config", "--train-steps", "3"])
    assert exit.value.code == 2
