"""Spans, the generator, ingest's checks, the run context and the monitoring DAG (no pipeline)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from pipeline.config import (
    PROJECT_ROOT,
    ConfigError,
    PipelineConfig,
    SpanSelection,
    config_from_values,
    parse_spans,
)
from pipeline.config.record import config_from_record, config_record
from pipeline.data import fingerprints, ingest, input_files, spans
from pipeline.run import manifest, reproduce
from pipeline.vocabulary import window_text
from tests.support.configs import SAMPLE_DATA, span_files
from tools import span_demo
from tools import taxi as features

SOURCE = PROJECT_ROOT / "data" / "taxi" / "data.csv"
SCHEMA = PROJECT_ROOT / "models" / "taxi" / "schema.pbtxt"


def span_dir_with(root: Path, count: int, rows: int = 40) -> Path:
    """A data dir with `count` clean generated spans."""
    data = root / "data"
    for span in range(1, count + 1):
        header, generated = span_demo.generate_rows(SOURCE, rows, seed=span, days=7 * span)
        span_demo.write_span(data, span, header, generated)
    return data


def test_latest_span_is_the_highest_number_not_the_last_in_name_order(tmp_path: Path) -> None:
    data = span_dir_with(tmp_path, 2)
    header, rows = span_demo.generate_rows(SOURCE, 5, seed=9, days=0)
    span_demo.write_span(data, 10, header, rows)
    (data / ".ingest-abc").mkdir()
    assert spans.list_spans(data) == [1, 2, 10]
    assert spans.resolve_spans(data, parse_spans("latest")) == (10,)
    assert spans.resolve_spans(data, parse_spans("2")) == (2,)
    with pytest.raises(spans.SpanError, match="missing span.s. 3 of the selected range 3"):
        spans.resolve_spans(data, parse_spans("3"))


def test_plain_folder_of_csvs_has_no_span() -> None:
    assert spans.resolve_spans(SAMPLE_DATA, parse_spans("latest")) == ()
    assert spans.input_folders(SAMPLE_DATA, ()) == [SAMPLE_DATA]
    with pytest.raises(spans.SpanError, match="no span-N folders"):
        spans.resolve_spans(SAMPLE_DATA, parse_spans("1"))


@pytest.mark.parametrize(("text", "selection"), [
    ("latest", SpanSelection(newest=1)),
    ("last-1", SpanSelection(newest=1)),
    ("last-3", SpanSelection(newest=3)),
    ("4", SpanSelection(newest=None, first=4, last=4)),
    ("2-5", SpanSelection(newest=None, first=2, last=5)),
])
def test_span_selections_parse_and_print_back(text: str, selection: SpanSelection) -> None:
    assert parse_spans(text) == selection
    assert parse_spans(str(selection)) == selection
    assert str(selection) == ("latest" if text == "last-1" else text)


@pytest.mark.parametrize("text", ["", "0", "-1", "3-3", "5-2", "1-", "1-2-3", "last-0", "last-",
                                  "last-x", "newest", "1,2", " 2"])
def test_bad_span_selections_are_config_errors_naming_the_field(text: str) -> None:
    with pytest.raises(ConfigError, match=f"invalid config spans: {text!r}.*A-B"):
        config_from_values({"spans": text})


def test_config_holds_the_parsed_selection_and_records_it_as_text(tmp_path: Path) -> None:
    data = span_dir_with(tmp_path, 1)
    config = config_from_values({"data_dir": str(data), "spans": "last-3"})
    assert config.spans == SpanSelection(newest=3)
    record = config_record(config)
    assert record["spans"] == "last-3"
    assert config_from_record(record) == config
    with pytest.raises(ConfigError, match="invalid config spans"):
        PipelineConfig(spans="last-3")


def test_a_range_selects_every_span_in_it_and_names_the_missing_ones(tmp_path: Path) -> None:
    data = span_dir_with(tmp_path, 3)
    header, rows = span_demo.generate_rows(SOURCE, 5, seed=9, days=0)
    span_demo.write_span(data, 6, header, rows)
    assert spans.resolve_spans(data, parse_spans("1-3")) == (1, 2, 3)
    assert spans.resolve_spans(data, parse_spans("2-3")) == (2, 3)
    with pytest.raises(spans.SpanError, match=r"missing span\(s\) 4, 5 of the selected range 2-6"):
        spans.resolve_spans(data, parse_spans("2-6"))
    assert spans.input_folders(data, (2, 3)) == [data / "span-2", data / "span-3"]
    assert window_text((2, 3)) == "2-3" and window_text((3,)) == "3"


def test_a_rolling_window_takes_the_newest_span_folders_or_fewer(tmp_path: Path) -> None:
    data = span_dir_with(tmp_path, 2)
    header, rows = span_demo.generate_rows(SOURCE, 5, seed=9, days=0)
    span_demo.write_span(data, 5, header, rows)
    assert spans.resolve_spans(data, parse_spans("last-2")) == (2, 5)
    assert spans.resolve_spans(data, parse_spans("last-9")) == (1, 2, 5)
    assert spans.resolve_spans(SAMPLE_DATA, parse_spans("last-2")) == ()


@pytest.mark.taxi
def test_generated_rows_are_seeded_and_time_fields_follow_the_shifted_timestamp() -> None:
    _, first = span_demo.generate_rows(SOURCE, 50, seed=3, days=30)
    _, again = span_demo.generate_rows(SOURCE, 50, seed=3, days=30)
    assert first == again
    for row in first:
        if row[features.TIMESTAMP_KEY]:
            start = dt.datetime.fromtimestamp(int(row[features.TIMESTAMP_KEY]), dt.timezone.utc)
            assert int(row[features.HOUR_KEY]) == start.hour
            assert int(row[features.MONTH_KEY]) == start.month
            assert int(row[features.WEEKDAY_KEY]) == start.isoweekday() % 7 + 1


@pytest.mark.taxi
def test_drifted_rows_shift_the_payment_mix_and_scale_fares() -> None:
    _, clean = span_demo.generate_rows(SOURCE, 400, seed=5, days=0)
    _, drifted = span_demo.generate_rows(SOURCE, 400, seed=5, days=0, drift=span_demo.DEMO_DRIFT)
    share = {
        name: Counter(r[features.PAYMENT_TYPE_KEY] for r in rows)[features.DRIFT_FROM_VALUE] / 400
        for name, rows in (("clean", clean), ("drifted", drifted))
    }
    assert share["clean"] - share["drifted"] > 0.2
    fares = [(float(a[features.FARE_KEY]), float(b[features.FARE_KEY]))
             for a, b in zip(clean, drifted, strict=True) if a[features.FARE_KEY]]
    assert all(abs(b - a * span_demo.DEMO_DRIFT.fare_factor) < 0.01 for a, b in fares)


def write_csv_without(tmp_path: Path, column: str) -> Path:
    """A generated file missing one column."""
    header, rows = span_demo.generate_rows(SOURCE, 20, seed=1, days=0)
    header = [c for c in header if c != column]
    kept = [{c: r[c] for c in header} for r in rows]
    return span_demo.write_rows(tmp_path / "missing.csv", header, kept)


@pytest.mark.taxi
def test_ingest_rejects_a_missing_column_and_leaves_spans_untouched(tmp_path: Path) -> None:
    data = span_dir_with(tmp_path, 1)
    before = (data / "span-1" / spans.SPAN_FILE).read_bytes()
    bad = write_csv_without(tmp_path, features.TIPS_KEY)
    with pytest.raises(spans.SpanError, match=rf"missing columns \['{features.TIPS_KEY}'\]"):
        ingest.ingest(bad, data, SCHEMA)
    assert sorted(p.name for p in data.iterdir()) == ["span-1"]
    assert (data / "span-1" / spans.SPAN_FILE).read_bytes() == before


def plain_copy(tmp_path: Path) -> Path:
    """A plain folder of CSV files as `init` leaves it: the sample's file and a note beside it."""
    folder = tmp_path / "plain"
    folder.mkdir()
    shutil.copy(SAMPLE_DATA / "data.csv", folder / "first.csv")
    (folder / "README.txt").write_text("where the data came from\n")
    return folder


def listing(folder: Path) -> list[tuple[str, bytes]]:
    """Every file under a folder with its bytes, to show that nothing moved or changed."""
    return sorted((str(p.relative_to(folder)), p.read_bytes()) for p in folder.rglob("*") if p.is_file())


def test_ingest_rejects_other_columns_and_empty_files_leaving_a_plain_folder_as_it_was(
        tmp_path: Path) -> None:
    data = plain_copy(tmp_path)
    before = listing(data)
    extra = tmp_path / "extra.csv"
    extra.write_text((SAMPLE_DATA / "data.csv").read_text().replace("tips", "tip_amount", 1))
    empty, header_only = tmp_path / "empty.csv", tmp_path / "header.csv"
    empty.write_text("")
    header_only.write_text((SAMPLE_DATA / "data.csv").read_text().splitlines()[0] + "\n")
    for bad, reason in ((extra, r"missing columns \['tips'\]; unexpected columns \['tip_amount'\]"),
                        (empty, "is empty"), (header_only, "has a header but no rows")):
        with pytest.raises(spans.SpanError, match=reason):
            ingest.ingest(bad, data, SCHEMA)
    assert listing(data) == before


def test_ingesting_a_file_already_landed_lands_nothing(tmp_path: Path) -> None:
    data = plain_copy(tmp_path)
    before = listing(data)
    again = ingest.ingest(SAMPLE_DATA / "data.csv", data, SCHEMA)
    assert again == ingest.Landing(1, duplicate_of=data / "first.csv")
    assert listing(data) == before
    spanned = span_dir_with(tmp_path / "spanned", 2)
    copy = shutil.copy(spanned / "span-2" / spans.SPAN_FILE, tmp_path / "week.csv")
    assert ingest.ingest(Path(copy), spanned, SCHEMA).duplicate_of == spanned / "span-2" / spans.SPAN_FILE
    assert spans.list_spans(spanned) == [1, 2]


def test_a_plain_folder_becomes_span_1_with_every_file_and_the_same_fingerprint(tmp_path: Path) -> None:
    data = plain_copy(tmp_path)
    shutil.copy(SAMPLE_DATA / "data.csv", data / "second.csv")
    plain = fingerprints.data_fingerprint(input_files.data_files(data))
    moved = ingest.convert_to_spans(data)
    assert moved == (data / "span-1" / "first.csv", data / "span-1" / "second.csv")
    assert sorted(p.name for p in data.iterdir()) == ["README.txt", "span-1"]
    assert all(p.read_bytes() == (SAMPLE_DATA / "data.csv").read_bytes() for p in moved)
    assert fingerprints.data_fingerprint(span_files(data, 1)) == plain
    assert ingest.convert_to_spans(data) == ()
    assert reproduce.recorded_spans("none", str(data)) == "1"
    assert reproduce.recorded_spans(3, str(data)) == "3"
    assert reproduce.recorded_spans("none", str(SAMPLE_DATA)) == "latest"


@pytest.mark.slow
@pytest.mark.taxi
def test_ingest_lands_a_valid_file_and_rejects_values_outside_the_schema(tmp_path: Path) -> None:
    data = span_dir_with(tmp_path, 1)
    header, rows = span_demo.generate_rows(SOURCE, 60, seed=2, days=7)
    good = span_demo.write_rows(tmp_path / "good.csv", header, rows)
    assert ingest.ingest(good, data, SCHEMA) == ingest.Landing(2)
    assert (data / "span-2" / spans.SPAN_FILE).read_bytes() == good.read_bytes()
    for row in rows[::3]:
        row[features.PAYMENT_TYPE_KEY] = "Bitcoin"
    bad = span_demo.write_rows(tmp_path / "bad.csv", header, rows)
    with pytest.raises(spans.SpanError, match=f"feature '{features.PAYMENT_TYPE_KEY}'"):
        ingest.ingest(bad, data, SCHEMA)
    assert sorted(p.name for p in data.iterdir()) == ["span-1", "span-2"]
    # Growth is not broken data: one new category and a trip longer than the schema's maximum land.
    for row in rows:
        row[features.PAYMENT_TYPE_KEY] = "Cash"
    rows[0][features.PAYMENT_TYPE_KEY], rows[1]["trip_miles"] = "Bitcoin", "9999.5"
    grown = span_demo.write_rows(tmp_path / "grown.csv", header, rows)
    assert ingest.ingest(grown, data, SCHEMA).span == 3


def test_run_context_records_code_lock_packages_and_data(tmp_path: Path) -> None:
    data = span_dir_with(tmp_path, 2)
    config = PipelineConfig(data_dir=data, pipeline_root=tmp_path / "root")
    context = manifest.compute_run_context(config, (2,))
    assert context["data_span"] == 2 and "data_spans" not in context
    assert context["data_fingerprint"] == fingerprints.data_fingerprint(span_files(data, 2))
    assert context["code_fingerprint"] == fingerprints.config_code_fingerprint(config)
    assert len(context["uv_lock_sha256"]) == 64
    assert context["packages"]["tfx"] == "1.16.0"
    assert config_from_record(context["config"]) == config


def test_run_context_of_a_window_records_every_span_and_all_files(tmp_path: Path) -> None:
    data = span_dir_with(tmp_path, 3)
    config = PipelineConfig(data_dir=data, pipeline_root=tmp_path / "root",
                            spans=parse_spans("last-2"))
    context = manifest.compute_run_context(config, (2, 3))
    files = span_files(data, 2) + span_files(data, 3)
    assert context["data_span"] == "2-3" and context["data_spans"] == [2, 3]
    assert context["data_files"] == [str(f) for f in files]
    assert context["data_fingerprint"] == fingerprints.data_fingerprint(files)
    assert context["data_fingerprint"] != manifest.compute_run_context(config, (3,))["data_fingerprint"]
    assert context["config"]["spans"] == "last-2"


@pytest.mark.slow
def test_monitor_dag_imports_in_a_dagbag(tmp_path: Path) -> None:
    code = (
        "from airflow.models import DagBag\n"
        f"bag = DagBag(dag_folder={str(PROJECT_ROOT / 'dags' / 'monitoring.py')!r},"
        " include_examples=False)\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "from pipeline.monitoring.monitor_dag import monitor_arguments, settings_from_env\n"
        "import os\n"
        "print(bag.dag_ids, ' '.join(monitor_arguments(settings_from_env(os.environ))))\n"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"),
           "PIPELINE_MONITOR_REQUESTS_FILE": str(tmp_path / "requests.csv"),
           "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300, cwd=PROJECT_ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "['taxi_monitoring']" in done.stdout
    assert f"monitor {tmp_path / 'requests.csv'}" in done.stdout


@pytest.mark.slow
@pytest.mark.taxi
def test_first_ingest_into_a_plain_folder_makes_its_data_span_1_and_the_batch_span_2(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`ingest` as a user types it on the folder `init` wrote: one command, nothing moved by hand."""
    from pipeline.__main__ import main

    data = plain_copy(tmp_path)
    header, rows = span_demo.generate_rows(SOURCE, 60, seed=2, days=7)
    batch = span_demo.write_rows(tmp_path / "week.csv", header, rows)
    assert main(["ingest", str(batch), "--data", str(data), "--schema", str(SCHEMA)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"converted {data} to span folders: its 1 data file(s) are now span 1 ({data / 'span-1'}/)",
        f"landed {batch} as {data / 'span-2'}"]
    assert spans.resolve_spans(data, parse_spans("last-2")) == (1, 2)
    assert (data / "span-1" / "first.csv").read_bytes() == (SAMPLE_DATA / "data.csv").read_bytes()
    assert main(["ingest", str(batch), "--data", str(data), "--schema", str(SCHEMA)]) == 0
    assert "nothing landed" in capsys.readouterr().out
    assert spans.list_spans(data) == [1, 2]
