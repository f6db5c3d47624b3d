"""A scored file's columns read a column at a time by Arrow's CSV reader, each converted as the
csv module path converts a cell (pipeline/serving/client.py: text stripped, empty = missing,
numbers by Python's float rules); any file or column that path would read differently or refuse
(a row of the wrong width, a value Arrow cannot parse, whitespace only Python strips, a byte-order
mark, a repeated column) is read by that path instead, so values and errors stay its own."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.serving import client

if TYPE_CHECKING:
    import pyarrow as pa

# A column's values as Arrow holds them: float64 for FLOAT_TYPES (Python's float), int64 for
# INT_TYPES, text for the rest; null where the cell is empty.
Columns = dict[str, "pa.Array"]
# Characters str.strip() removes that Arrow's ASCII trim keeps: a value starting or ending with one
# is left to the csv module's path.
_PYTHON_ONLY_SPACE = r"^[\x1c-\x1f\x85\p{Z}]|[\x1c-\x1f\x85\p{Z}]$"
_UTF8_BOM = b"\xef\xbb\xbf"


def read_columns(path: Path, header: list[str], types: dict[str, str]) -> Columns:
    """The typed columns of one file: Arrow's, or the csv module's where they could differ."""
    columns = _arrow_columns(path, header, types)
    return columns if columns is not None else columns_of_rows(client.read_rows(path, types), types)


def columns_of_rows(rows: Sequence[client.Row], types: dict[str, str]) -> Columns:
    """Rows as the csv module's path reads them, turned into typed columns (a missing cell null)."""
    import pyarrow as pa

    return {name: pa.array([row.get(name) for row in rows], python_type(dtype))
            for name, dtype in types.items()}


def python_type(dtype: str):
    """The Arrow type holding a cell's Python value: float64, int64 or text."""
    import pyarrow as pa

    if dtype in client.FLOAT_TYPES:
        return pa.float64()
    return pa.int64() if dtype in client.INT_TYPES else pa.string()


def _arrow_columns(path: Path, header: list[str], types: dict[str, str]) -> Columns | None:
    """Every column read and converted by Arrow, or None where the csv module's path must."""
    import pyarrow as pa
    from pyarrow import csv as arrow_csv

    if len(set(header)) != len(header) or any(name not in header for name in types):
        return None
    with path.open("rb") as handle:
        if handle.read(len(_UTF8_BOM)) == _UTF8_BOM:
            return None
    convert = arrow_csv.ConvertOptions(
        include_columns=list(types), column_types=dict.fromkeys(types, pa.string()),
        strings_can_be_null=False, quoted_strings_can_be_null=False)
    try:
        table = arrow_csv.read_csv(path, parse_options=arrow_csv.ParseOptions(
            newlines_in_values=True), convert_options=convert)
        converted = {name: _converted(table.column(name).combine_chunks(), dtype)
                     for name, dtype in types.items()}
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if any(column is None for column in converted.values()):
        return None
    return converted


def _converted(text, dtype: str):
    """One column converted as client._typed converts each cell (None: leave it to that path)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    stripped = pc.ascii_trim_whitespace(text)
    if pc.any(pc.match_substring_regex(stripped, _PYTHON_ONLY_SPACE)).as_py():
        return None
    cells = pc.if_else(pc.equal(stripped, ""), pa.scalar(None, pa.string()), stripped)
    if dtype in client.STRING_TYPES:
        return cells
    if dtype not in client.FLOAT_TYPES and dtype not in client.INT_TYPES:
        return None
    numbers = pc.cast(cells, pa.float64())
    if dtype in client.FLOAT_TYPES:
        return numbers
    whole = pc.and_(pc.is_finite(numbers), pc.equal(pc.floor(numbers), numbers))
    if not pc.all(whole, min_count=0).as_py() or pc.any(
            pc.greater_equal(pc.abs(numbers), 2.0 ** 63)).as_py():
        return None
    return pc.cast(numbers, pa.int64())
