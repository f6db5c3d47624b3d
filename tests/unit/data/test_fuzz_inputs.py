"""Fuzzing: hostile CSV files through `check-data` (the pre-flight every run starts with).

Hypothesis builds each file from the sample's header and a few rows, then applies one or two
hostile edits (random bytes, other encodings, quoting, delimiters, line endings, ragged rows,
huge fields, duplicate headers, types drifting mid-file). For each file the command either
succeeds, and then CsvExampleGen's own reader (pipeline.data.csv_format) parses the file to the
same number of rows, or it exits non-zero with one `error:` line naming the data folder and no
traceback; a served version and an earlier run's artifacts stay byte-identical. Bounded:
MAX_EXAMPLES files, derandomized, in-process, a few milliseconds each.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pipeline.__main__ import main
from pipeline.data import csv_format
from tests.support.faults import sample_lines

MAX_EXAMPLES = 60
MAX_ROW_BYTES = 4096
HEADER = sample_lines()[0]
WIDTH = len(HEADER.split(","))


def _rows_the_schema_accepts(count: int) -> list[str]:
    """Sample rows whose cells are filled except in columns often empty in the sample, so an
    unedited file passes and edits decide the outcome."""
    rows = [line.split(",") for line in sample_lines()[1:]]
    sparse = {i for i in range(WIDTH) if sum(not row[i] for row in rows) > len(rows) / 4}
    full = [row for row in rows if all(row[i] or i in sparse for i in range(WIDTH))]
    return [",".join(row) for row in full[:count]]


ROWS = _rows_the_schema_accepts(8)

Edit = Callable[[list[str]], list[str]]


def _at(draw: st.DrawFn, lines: list[str]) -> int:
    return draw(st.integers(0, max(len(lines) - 1, 0)))


@st.composite
def _edit(draw: st.DrawFn) -> Callable[[bytes], bytes]:
    """One hostile edit of a file's bytes."""
    kind = draw(st.sampled_from([
        "random_file", "insert_bytes", "encoding", "delimiter", "quotes", "ragged", "huge_field",
        "duplicate_header", "type_drift", "line_endings", "blank_and_empty", "header_only",
        "quote_every_field",
    ]))
    seed = draw(st.randoms(use_true_random=False))
    junk = draw(st.binary(min_size=1, max_size=40))
    encoding = draw(st.sampled_from(["latin-1", "utf-16", "utf-8-sig", "cp1252", "utf-32"]))
    size = draw(st.sampled_from([MAX_ROW_BYTES // 2, MAX_ROW_BYTES * 2, 40_000]))
    text = draw(st.text(alphabet='ab,"\n\r\t; é\x00', max_size=30))

    def edit(data: bytes) -> bytes:
        if kind == "random_file":
            return junk
        if kind == "insert_bytes":
            at = seed.randrange(len(data) + 1)
            return data[:at] + junk + data[at:]
        lines = data.decode("utf-8", "surrogateescape").split("\n")
        row = seed.randrange(1, len(lines)) if len(lines) > 1 else 0  # a data row if any
        if kind == "encoding":
            text_data = data.replace(b"Flash Cab", "Fläsh Cäb".encode()).decode("utf-8", "replace")
            return text_data.encode(encoding, "replace")
        if kind == "delimiter":
            sep = seed.choice([";", "\t", "|"])
            lines = [line.replace(",", sep) if seed.random() < 0.5 else line for line in lines]
        elif kind == "quotes":
            cells = lines[row].split(",")
            cells[seed.randrange(len(cells))] = text
            lines[row] = ",".join(cells)
        elif kind == "ragged":
            cells = lines[row].split(",")
            lines[row] = ",".join(cells[:-1] if seed.random() < 0.5 else [*cells, text])
        elif kind == "huge_field":
            cells = lines[row].split(",")
            cells[seed.randrange(len(cells))] = "x" * size
            lines[row] = ",".join(cells)
        elif kind == "duplicate_header":
            names = lines[0].split(",")
            names[seed.randrange(len(names))] = names[seed.randrange(len(names))]
            lines[0] = ",".join(names)
        elif kind == "type_drift":
            column = seed.randrange(WIDTH)
            for number in range(row, len(lines)):
                cells = lines[number].split(",")
                if len(cells) == WIDTH:
                    cells[column] = text.replace(",", "").replace("\n", "")
                    lines[number] = ",".join(cells)
        elif kind == "line_endings":
            ending = seed.choice(["\r\n", "\r", "\n\n", "\r\r\n"])
            return ending.join(lines).encode("utf-8", "surrogateescape")
        elif kind == "blank_and_empty":
            lines.insert(row, seed.choice(["", " ", ",,,", '""']))
        elif kind == "quote_every_field":
            lines[row] = ",".join(f'"{cell}"' for cell in lines[row].split(","))
        elif kind == "header_only":
            lines = lines[:1]
        return "\n".join(lines).encode("utf-8", "surrogateescape")

    return edit


@st.composite
def hostile_files(draw: st.DrawFn) -> list[bytes]:
    """One or two CSV files, each the sample's header and rows after one to three edits."""
    files = []
    for _ in range(draw(st.sampled_from([1, 1, 1, 2]))):
        data = ("\n".join([HEADER, *ROWS]) + "\n").encode()
        for edit in draw(st.lists(_edit(), min_size=1, max_size=2)):
            data = edit(data)
        files.append(data)
    return files


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _earlier_outputs(root: Path) -> Path:
    """A served version and an earlier run's artifact, which no check may touch."""
    for path, content in (("serving_model/taxi/1/saved_model.pb", b"model v1"),
                          ("pipeline_root/CsvExampleGen/examples/1/Split-train/data", b"rows")):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)
    return root


def _arrow_rows(folder: Path) -> int:
    """Rows CsvExampleGen's reader parses in the folder's files, with TFX's header rule."""
    rows = 0
    for path in sorted(folder.glob("*.csv")):
        with path.open("rb") as handle:
            header = csv_format.header_names(handle.readline().decode())
            handle.seek(0)
            rows += sum(block.num_rows for block in csv_format.arrow_blocks(handle, header))
    return rows


@settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(files=hostile_files())
def test_hostile_csv_is_accepted_as_csv_example_gen_reads_it_or_refused_in_one_line(
    files: list[bytes], capsys: pytest.CaptureFixture
) -> None:
    with tempfile.TemporaryDirectory() as temp:
        root = _earlier_outputs(Path(temp))
        before = _snapshot(root)
        data = root / "data"
        data.mkdir()
        for number, content in enumerate(files):
            (data / f"part-{number}.csv").write_bytes(content)
        try:
            code = main(["check-data", "--data", str(data), "--max-row-bytes", str(MAX_ROW_BYTES)])
        except SystemExit as exit_info:  # argparse only
            code = exit_info.code
        out, err = capsys.readouterr()
        event(f"exit {code}")
        assert "Traceback" not in out + err
        if code == 0:
            reported = int(re.match(r"ok: (\d+) rows", out).group(1))  # type: ignore[union-attr]
            assert _arrow_rows(data) == reported
        else:
            errors = [line for line in err.splitlines() if line.startswith("error:")]
            assert len(errors) == 1, err
            assert str(data) in err
        after = {k: v for k, v in _snapshot(root).items() if not k.startswith("data/")}
        assert after == before
