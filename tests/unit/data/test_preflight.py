"""Pre-flight input checks: each broken file is refused naming the file, line and column."""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.__main__ import main
from pipeline.config import PROJECT_ROOT, PipelineConfig
from pipeline.config.project import Project
from pipeline.data import csv_format
from pipeline.data.preflight import PreflightError, check_data_dir, check_window
from pipeline.data.profile import profile
from tests.support.configs import SAMPLE_DATA, small_config
from tests.support.csv_columns import write_csv
from tests.support.faults import (
    cli_run,
    drop_column,
    fake_served_version,
    sample_lines,
    set_column,
    write_lines,
)
from tools import taxi as features

SCHEMA = PipelineConfig().schema_path
TAXI = PipelineConfig().declaration
LIMIT = 1 << 20


def refused(data_dir: Path, schema: Path | None = SCHEMA) -> str:
    """The pre-flight error message for a folder that must be refused."""
    with pytest.raises(PreflightError) as error:
        check_data_dir(data_dir, schema, LIMIT, TAXI)
    return str(error.value)


def test_the_sample_passes_with_its_row_count() -> None:
    report = check_data_dir(SAMPLE_DATA, SCHEMA, LIMIT, TAXI)
    assert (report.files, report.rows) == (1, len(sample_lines()) - 1)


def test_missing_input_directory(tmp_path: Path) -> None:
    assert f"{tmp_path / 'absent'}: input directory does not exist" in refused(tmp_path / "absent")


def test_directory_without_files(tmp_path: Path) -> None:
    assert f"{tmp_path}: no input files" in refused(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_bytes(b"")
    assert f"{tmp_path / 'data.csv'}: file is empty" in refused(tmp_path)


def test_header_only(tmp_path: Path) -> None:
    write_lines(tmp_path, sample_lines()[:1])
    assert f"{tmp_path / 'data.csv'}: has a header but no data rows" in refused(tmp_path)


@pytest.mark.parametrize("column", [features.TIPS_KEY, features.DENSE_FLOAT_FEATURE_KEYS[0]])
@pytest.mark.parametrize("schema", [SCHEMA, None], ids=["curated", "inferred"])
def test_missing_column(tmp_path: Path, column: str, schema: Path | None) -> None:
    write_lines(tmp_path, drop_column(sample_lines(), column))
    message = refused(tmp_path, schema)
    assert f"{tmp_path / 'data.csv'}:1: missing column(s) '{column}'" in message


def test_unknown_extra_column(tmp_path: Path) -> None:
    lines = sample_lines()
    write_lines(tmp_path, [lines[0] + ",driver_mood"] + [line + ",happy" for line in lines[1:]])
    assert "data.csv:1: unknown column(s) 'driver_mood' not in" in refused(tmp_path)


def test_duplicated_column(tmp_path: Path) -> None:
    lines = sample_lines()
    write_lines(tmp_path, [lines[0] + f",{features.TIPS_KEY}"] + [f"{x},0" for x in lines[1:]])
    assert f"duplicated column(s) '{features.TIPS_KEY}'" in refused(tmp_path)


def test_empty_values_beyond_what_the_schema_allows(tmp_path: Path) -> None:
    """20 % empty is broken data; 1 % empty where training had none is growth within the
    declaration's default validation.max_missing_share (5 %)."""
    seconds = features.DENSE_FLOAT_FEATURE_KEYS[2]
    lines = set_column(sample_lines(), seconds, "", every=5)
    lines = set_column(lines, features.FARE_KEY, "", every=100)
    write_lines(tmp_path, lines)
    rows = len(lines) - 1
    message = refused(tmp_path)
    assert f"column '{seconds}' is empty in {(rows + 4) // 5} of {rows} rows" in message
    assert "at most 5.0% is allowed (the looser of" in message
    assert "validation.max_missing_share" in message
    assert f"column '{features.FARE_KEY}'" not in message


def test_empty_values_within_the_schema_pass(tmp_path: Path) -> None:
    lines = sample_lines()
    write_lines(tmp_path, set_column(lines, features.BUCKET_FEATURE_KEYS[0], "", every=20))
    assert check_data_dir(tmp_path, SCHEMA, LIMIT, TAXI).rows == len(lines) - 1


def test_rows_with_the_wrong_number_of_fields_are_named_by_line(tmp_path: Path) -> None:
    lines = sample_lines()
    lines[4] += ",extra"
    lines[9] = lines[9].rsplit(",", 2)[0]
    write_lines(tmp_path, lines)
    width = len(lines[0].split(","))
    message = refused(tmp_path)
    assert f"data.csv:5: {width + 1} fields, the header has {width}" in message
    assert f"data.csv:10: {width - 2} fields, the header has {width}" in message


def test_problem_lines_are_capped_and_counted(tmp_path: Path) -> None:
    lines = sample_lines()
    write_lines(tmp_path, lines[:1] + [line + ",x" for line in lines[1:]])
    message = refused(tmp_path)
    assert message.count("fields, the header has") == 10
    assert f"... and {len(lines) - 11} more problem lines" in message


def test_non_utf8_bytes_name_the_line_and_field(tmp_path: Path) -> None:
    lines = [line.encode() for line in sample_lines()]
    company = lines[0].decode().split(",").index(features.VOCAB_FEATURE_KEYS[1])
    cells = lines[3].split(b",")
    cells[company] = b"Caf\xe9 Cab"
    lines[3] = b",".join(cells)
    (tmp_path / "data.csv").write_bytes(b"\n".join(lines) + b"\n")
    message = refused(tmp_path)
    assert f"data.csv:4: not valid UTF-8 in field {company + 1} (bytes b'\\xe9 Ca'" in message


def test_a_100_mb_field_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    lines = sample_lines()
    with (tmp_path / "data.csv").open("w") as handle:
        handle.write("\n".join(lines[:3]) + "\n")
        handle.write(lines[3].replace(",", "," + "x" * 100_000_000, 1) + "\n")
    started = time.monotonic()
    message = refused(tmp_path)
    assert time.monotonic() - started < 5
    assert f"data.csv:4: record longer than {LIMIT} bytes (max_row_bytes)" in message


def test_quoted_multiline_fields_and_blank_lines_are_kept(tmp_path: Path) -> None:
    lines = set_column(sample_lines(), features.VOCAB_FEATURE_KEYS[1], '"Line one\nline two"', 50)
    write_lines(tmp_path, lines + [""])
    assert check_data_dir(tmp_path, SCHEMA, LIMIT, TAXI).rows == len(sample_lines()) - 1


def test_unbalanced_quote_is_refused(tmp_path: Path) -> None:
    lines = sample_lines()
    head, last = lines[-1].rsplit(",", 1)
    write_lines(tmp_path, lines[:-1] + [f'{head},"{last}'])
    assert f"data.csv:{len(lines)}: unbalanced quotes" in refused(tmp_path)


def test_a_quote_inside_a_field_is_a_character_as_for_csv_example_gen(tmp_path: Path) -> None:
    lines = sample_lines()
    quoted = set_column(lines, features.VOCAB_FEATURE_KEYS[1], 'Joe"s Cab', 10)
    write_lines(tmp_path, quoted + ['"' + lines[1].replace(",", '","') + '"'])
    assert check_data_dir(tmp_path, SCHEMA, LIMIT, TAXI).rows == len(lines)
    with (tmp_path / "data.csv").open("rb") as handle:
        blocks = list(csv_format.arrow_blocks(handle, lines[0].split(",")))
    assert sum(block.num_rows for block in blocks) == len(lines)


@pytest.mark.parametrize(("first_line", "problem"), [
    ('"pickup_community_area",', "column names must be plain and comma-separated"),
    (" pickup_community_area,", "column names must be plain and comma-separated"),
])
def test_a_header_csv_example_gen_reads_differently_is_refused(
    tmp_path: Path, first_line: str, problem: str
) -> None:
    lines = sample_lines()
    assert lines[0].startswith("pickup_community_area,")
    header = first_line + lines[0].split(",", 1)[1]
    write_lines(tmp_path, [header, *lines[1:]])
    assert f"data.csv:1: {problem}" in refused(tmp_path)


def test_bare_carriage_returns_are_refused(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("\r".join(sample_lines()) + "\r")
    assert "data.csv:1: header is not a CSV line" in refused(tmp_path)


def test_what_csv_example_gen_cannot_parse_is_named() -> None:
    def problem(text: bytes) -> str:
        return csv_format.arrow_problem(io.BytesIO(text), ["a", "b"], len(text)) or ""

    assert "cannot parse it" in problem(b'a,b\n1,"\xff"\n')
    assert "Expected 2 columns, got 3" in problem(b"a,b\n1,2,3\n")
    assert problem(b'a,b\n1,"x\ny"\n') == ""


def test_files_with_different_headers(tmp_path: Path) -> None:
    lines = sample_lines()
    write_lines(tmp_path, lines, "a.csv")
    reordered = drop_column(lines, features.TIPS_KEY)
    tips = [line.split(",")[lines[0].split(",").index(features.TIPS_KEY)] for line in lines]
    write_lines(tmp_path, [f"{t},{row}" for t, row in zip(tips, reordered, strict=True)], "b.csv")
    assert f"{tmp_path / 'b.csv'}: header differs from {tmp_path / 'a.csv'}'s" in refused(tmp_path)


def test_a_subdirectory_the_pattern_matches_is_refused(tmp_path: Path) -> None:
    write_lines(tmp_path, sample_lines())
    (tmp_path / "old.csv").mkdir()
    (tmp_path / "old").mkdir()  # not *.csv: CsvExampleGen does not read it either
    assert refused(tmp_path).endswith(f"{tmp_path / 'old.csv'}: is a directory")


def test_cli_refuses_a_bad_file_before_any_component(tmp_path: Path) -> None:
    data = write_lines(tmp_path / "data", drop_column(sample_lines(), features.TIPS_KEY))
    config = small_config(tmp_path, data_dir=data)
    version = fake_served_version(config)
    started = time.monotonic()
    done = cli_run(config)
    assert time.monotonic() - started < 30
    assert done.returncode == 1
    assert f"error: input data check failed in {data}:" in done.stderr
    assert f"{data / 'data.csv'}:1: missing column(s) '{features.TIPS_KEY}'" in done.stderr
    assert not config.metadata_path.exists()
    assert not config.log_dir.exists()
    assert sorted(p.name for p in version.parent.iterdir()) == ["1"]
    assert (version / "saved_model.pb").read_bytes() == b"model v1"


def test_check_data_command(tmp_path: Path) -> None:
    data = write_lines(tmp_path, sample_lines()[:1])
    command = [sys.executable, "-m", "pipeline", "check-data", "--data"]
    bad = subprocess.run([*command, str(data)], cwd=PROJECT_ROOT, capture_output=True, text=True)
    good = subprocess.run([*command, str(SAMPLE_DATA)], cwd=PROJECT_ROOT, capture_output=True,
                          text=True)
    assert bad.returncode == 1 and "has a header but no data rows" in bad.stderr
    assert good.returncode == 0 and f"ok: {len(sample_lines()) - 1} rows" in good.stdout


# --- data a run cannot split or key: too few rows, a rare class, an id that is not unique ---------

def own_project(tmp_path: Path) -> tuple[Project, dict[str, list]]:
    """A binary project `init` would write for 100 rows of id, x and a label y; and its columns."""
    columns = {"id": [f"r{i}" for i in range(100)], "x": [float(i % 17) for i in range(100)],
               "y": ["no", "yes"] * 50}
    data = write_csv(tmp_path / "profiled" / "data.csv", columns)
    project = profile(data, "y").project("own", str(data.parent), "")
    assert project.id_column == "id" and project.classes == ("no", "yes")
    return project, columns


def own_refused(folder: Path, project: Project) -> list[str]:
    """The problems the pre-flight lists for the project's folder (no curated schema), as a run
    checks it: the folder's files, then the window's rows together."""
    with pytest.raises(PreflightError) as error:
        check_window(folder, [check_data_dir(folder, None, LIMIT, project)], project)
    return error.value.problems


def own_passes(folder: Path, project: Project) -> int:
    """The rows of a folder the pre-flight accepts."""
    report = check_data_dir(folder, None, LIMIT, project)
    check_window(folder, [report], project)
    return report.rows


def test_own_project_passes_as_profiled(tmp_path: Path) -> None:
    project, _ = own_project(tmp_path)
    assert own_passes(tmp_path / "profiled", project) == 100


def test_fewer_rows_than_a_train_and_eval_split_need(tmp_path: Path) -> None:
    project, columns = own_project(tmp_path)
    data = write_csv(tmp_path / "few" / "a.csv", {k: v[:30] for k, v in columns.items()})
    write_csv(tmp_path / "few" / "b.csv", {k: v[30:49] for k, v in columns.items()})
    assert own_refused(data.parent, project) == [
        f"{data.parent}: 49 rows; at least 50 are needed for a train and an eval split"]
    # A span window is counted together: two spans of 30 rows are enough.
    spans = [write_lines(tmp_path / "taxi" / f"span-{n}", sample_lines()[:31]) for n in (1, 2)]
    reports = [check_data_dir(span, SCHEMA, LIMIT, TAXI) for span in spans]
    check_window(tmp_path / "taxi", reports, TAXI)
    with pytest.raises(PreflightError, match="30 rows; at least 50"):
        check_window(tmp_path / "taxi", reports[:1], TAXI)


def test_a_class_seen_fewer_than_5_times_is_refused_in_every_file_summed(tmp_path: Path) -> None:
    project, columns = own_project(tmp_path)
    labels = ["no"] * 96 + ["yes"] * 4
    data = write_csv(tmp_path / "rare" / "a.csv", {**columns, "y": labels})
    assert own_refused(data.parent, project) == [
        f"{data.parent}: label column 'y': class 'yes' 4 time(s); each class needs at least 5 rows "
        "(drop or merge rare classes)"]
    # The fifth row of the class in another file is enough.
    write_csv(tmp_path / "rare" / "b.csv", {"id": ["r100"], "x": [1.0], "y": ["yes"]})
    assert own_passes(data.parent, project) == 101


def test_integer_classes_count_every_spelling_of_their_value(tmp_path: Path) -> None:
    project, columns = own_project(tmp_path)
    integers = dataclasses.replace(project, classes=("0", "1"), positive_class="1")
    data = write_csv(tmp_path / "ints" / "a.csv", {**columns, "y": ["0", "01", "1 "] * 33 + ["0"]})
    assert own_passes(data.parent, integers) == 100


def test_a_regression_or_derived_label_is_not_counted_by_class(tmp_path: Path) -> None:
    project, columns = own_project(tmp_path)
    derived = dataclasses.replace(project, label_columns=("y", "x"))
    data = write_csv(tmp_path / "derived" / "a.csv", {**columns, "y": ["no"] * 99 + ["yes"]})
    assert own_passes(data.parent, derived) == 100


def test_an_id_column_that_is_not_unique_or_empty_is_named_by_file_and_line(tmp_path: Path) -> None:
    project, columns = own_project(tmp_path)
    ids = list(columns["id"])
    ids[10], ids[60] = "r3", ""
    data = write_csv(tmp_path / "ids" / "a.csv", {**columns, "id": ids})
    write_csv(tmp_path / "ids" / "b.csv", {"id": ["r5"], "x": [1.0], "y": ["yes"]})
    assert own_refused(data.parent, project) == [
        f"{data}:12: id column 'id' is not unique: 'r3' also on {data}:5",
        f"{data}:62: id column 'id' is empty",
        f"{data.parent / 'b.csv'}:2: id column 'id' is not unique: 'r5' also on {data}:7"]


def test_duplicate_ids_are_capped_and_counted(tmp_path: Path) -> None:
    project, columns = own_project(tmp_path)
    data = write_csv(tmp_path / "same" / "a.csv", {**columns, "id": ["r0"] * 100})
    problems = own_refused(data.parent, project)
    assert len(problems) == 11 and problems[-1] == "... and 89 more rows"


def test_run_refuses_a_duplicate_id_before_any_component(tmp_path: Path) -> None:
    models = tmp_path / "models"
    columns = {"id": [f"r{i}" for i in range(100)], "x": [float(i % 17) for i in range(100)],
               "y": ["no", "yes"] * 50}
    assert main(["init", "own", "--data", str(write_csv(tmp_path / "in" / "own.csv", columns)),
                 "--label", "y", "--models-dir", str(models)]) == 0
    data = tmp_path / "data" / "own"
    write_csv(data / "own.csv", {**columns, "id": ["r1"] + columns["id"][1:]})
    state = tmp_path / "state"
    env = {**os.environ, "PIPELINE_MODELS_DIR": str(models), "PIPELINE_STATE_DIR": str(state)}
    done = subprocess.run([sys.executable, "-m", "pipeline", "run", "--project", "own"],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: input data check failed in {data}:"]
    assert f"{data / 'own.csv'}:3: id column 'id' is not unique: 'r1' also on {data / 'own.csv'}:2" \
        in done.stderr
    assert "Traceback" not in done.stderr
    # Nothing but the run's lock files: no store, log, artifact or served model.
    assert [p for p in state.rglob("*") if p.is_file() and not p.name.endswith(".lock")] == []


def test_run_refuses_too_few_rows_before_any_component(tmp_path: Path) -> None:
    data = write_lines(tmp_path / "data", sample_lines()[:31])
    config = small_config(tmp_path, data_dir=data)
    version = fake_served_version(config)
    done = cli_run(config)
    assert done.returncode == 1
    assert [line for line in done.stderr.splitlines() if line.startswith("error: ")] == [
        f"error: input data check failed in {data}:"]
    assert f"{data}: 30 rows; at least 50 are needed for a train and an eval split" in done.stderr
    assert not config.metadata_path.exists() and not config.log_dir.exists()
    assert sorted(p.name for p in version.parent.iterdir()) == ["1"]
