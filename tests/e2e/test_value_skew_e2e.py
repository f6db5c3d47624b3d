"""Value skew trains, schema skew stops: a span that grew past the training range (a number
beyond the schema's bounds, a rare new category) trains and pushes with the growth recorded in ML
Metadata; a span missing a required column stops before Transform with one error line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT
from pipeline.config.project import Treatment
from pipeline.metadata import records
from pipeline.vocabulary import DATA_GATE, VALIDATED_SCHEMA_KEY, VALUE_SKEW_PROPERTY
from tests.support.configs import small_config
from tests.support.faults import cli_command, data_lines, drop_column, first_feature, set_column, write_lines
from tests.support.run_records import runs_by_node

pytestmark = pytest.mark.e2e


def test_a_span_that_grew_trains_and_pushes_with_the_growth_recorded(tmp_path: Path) -> None:
    from pipeline.run.console import format_summary
    from pipeline.run.local_runner import run_pipeline

    shared = small_config(tmp_path)
    number = first_feature(shared, Treatment.NUMERIC)
    category = first_feature(shared, Treatment.VOCABULARY)
    lines = set_column(data_lines(shared), number, "99999", every=60)
    data = write_lines(tmp_path / "data", set_column(lines, category, "Bitcoin", every=150))
    config = small_config(tmp_path, data_dir=data)
    result = run_pipeline(config)
    assert result.summary.pushed_version == "1", result.summary.push_decision
    gate = runs_by_node(config, result.summary.run_id)[DATA_GATE]
    [validated] = gate.outputs[VALIDATED_SCHEMA_KEY]
    recorded = "\n".join(map(str, records.struct_property(validated, VALUE_SKEW_PROPERTY)))
    assert f"feature '{number}'" in recorded and "Bitcoin" in recorded
    printed = format_summary(result.summary, config.declaration, config.metadata_path, None)
    assert f"growth     value skew in {', '.join(sorted({number, category}))}" in printed


def test_a_missing_required_column_stops_before_transform_with_one_error_line(tmp_path: Path) -> None:
    shared = small_config(tmp_path)
    column = first_feature(shared, Treatment.NUMERIC)
    data = write_lines(tmp_path / "data", drop_column(data_lines(shared), column))
    config = small_config(tmp_path, data_dir=data, train_steps=5)
    done = subprocess.run(cli_command(config), cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert f"'{column}'" in done.stderr
    assert "Transform" not in done.stdout and not config.serving_dir.exists()
