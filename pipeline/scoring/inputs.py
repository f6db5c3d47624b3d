"""The rows a scoring reads: the files of a CSV file or folder (the rule a run uses), each row as the
serialized tf.Example TF Serving's `serving_default` takes, named by the project's id column."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from pipeline.data.fingerprints import data_fingerprint
from pipeline.data.input_files import data_files, special_kind
from pipeline.errors import WorkFailed
from pipeline.scoring.columns import Columns, read_columns
from pipeline.serving import client
from pipeline.vocabulary import RAW_SIGNATURE


class ScoringInputError(WorkFailed):
    """The data cannot be scored; the message names the file, the line or the column."""


@dataclass(frozen=True)
class Batch:
    """The rows of one scoring: their ids, their examples, the values of the columns kept for
    feedback's slices, and a fingerprint of the files."""

    files: tuple[Path, ...]
    ids: tuple[str, ...]
    examples: tuple[bytes, ...]
    fingerprint: str
    kept: tuple[dict[str, object], ...] = ()


def input_types(model_dir: Path) -> dict[str, str]:
    """The raw columns the model reads and their dtypes (DT_*), from its `serving_raw` signature as
    saved_model.pb declares it (the model is not loaded)."""
    from tensorflow.core.framework import types_pb2
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel.FromString((model_dir / "saved_model.pb").read_bytes())
    for graph in saved.meta_graphs:
        if RAW_SIGNATURE in graph.signature_def:
            inputs = graph.signature_def[RAW_SIGNATURE].inputs
            return {name: types_pb2.DataType.Name(spec.dtype) for name, spec in inputs.items()}
    raise ScoringInputError(f"{model_dir} has no '{RAW_SIGNATURE}' signature to read columns from")


def input_paths(data: Path) -> list[Path]:
    """A file, or the files a run would read in a folder."""
    if data.is_dir():
        return data_files(data)
    problem = special_kind(data)
    if problem:
        raise ScoringInputError(f"{data} {problem}")
    return [data]


def _header(path: Path) -> list[str]:
    """The file's header; an empty file is refused."""
    client.require_csv(path)
    with path.open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), None)
    if not header:
        raise ScoringInputError(f"{path} is empty: no header and no rows to score")
    return header


def read_batch(data: Path, types: dict[str, str], id_column: str | None,
               keep: tuple[str, ...] = ()) -> Batch:
    """Every row of the files as an example, and the `keep` columns' values; without an id column
    rows are named by their line. Missing columns, empty or duplicate ids and files without rows
    are refused."""
    files = input_paths(data)
    ids: list[str] = []
    examples: list[bytes] = []
    kept: list[dict[str, object]] = []
    seen: dict[str, str] = {}
    for path in files:
        header = _header(path)
        if id_column is not None and id_column not in header:
            raise ScoringInputError(f"{path}: no id column '{id_column}' (the project's id_column)")
        wanted = dict(types) if id_column is None else {**types, id_column: "DT_STRING"}
        columns = read_columns(path, header, wanted)
        count = len(next(iter(columns.values()))) if columns else 0
        if not count:
            raise ScoringInputError(f"{path}: no rows to score (a header only)")
        names = columns.pop(id_column).to_pylist() if id_column is not None else [None] * count
        for line, name in enumerate(names, start=2):
            where = f"{path}, line {line}"
            key = where if id_column is None else _row_id(name, where, id_column)
            if key in seen:
                raise ScoringInputError(
                    f"duplicate id {key!r} in column '{id_column}': {seen[key]} and {where}")
            seen[key] = where
            ids.append(key)
        kept.extend(_kept(columns, keep, count))
        examples.extend(encode_columns(columns, types))
    return Batch(tuple(files), tuple(ids), tuple(examples), data_fingerprint(files), tuple(kept))


def _kept(columns: Columns, keep: tuple[str, ...], count: int) -> list[dict[str, object]]:
    """Each row's values of the `keep` columns (None for a column the model does not read)."""
    values = {name: columns[name].to_pylist() if name in columns else [None] * count
              for name in keep}
    return [{name: values[name][index] for name in keep} for index in range(count)]


def encode_columns(columns: Columns, types: dict[str, str]) -> list[bytes]:
    """Every row as a serialized tf.Example in one native call (tfx_bsl's record-batch encoder,
    a third of the time of one proto a row): an empty cell is a feature without values, which
    tf.io.parse_example reads as a missing one."""
    import pyarrow as pa
    from tfx_bsl.coders import example_coder

    arrays = [_list_array(columns[name], dtype) for name, dtype in types.items()]
    return example_coder.RecordBatchToExamples(pa.RecordBatch.from_arrays(arrays, list(types)))


def _list_array(flat, dtype: str):
    """One column as an Arrow list array of the model's type: a one-value list per present cell,
    a null list per empty one; built by Arrow and numpy a column at a time, not a cell at a time."""
    import numpy as np
    import pyarrow as pa

    present = flat.is_valid().to_numpy(zero_copy_only=False)
    ends = np.cumsum(present, dtype=np.int32)
    offsets = pa.array(np.concatenate([[0], ends]).astype(np.int32),
                       mask=np.append(~present, False))
    return pa.ListArray.from_arrays(offsets, flat.drop_null().cast(_arrow_type(dtype), safe=False))


def _arrow_type(dtype: str):
    """The Arrow type a column is sent as: float32, int64, or text's UTF-8 bytes."""
    import pyarrow as pa

    if dtype in client.FLOAT_TYPES:
        return pa.float32()
    return pa.int64() if dtype in client.INT_TYPES else pa.binary()


def _row_id(value: object, where: str, id_column: str) -> str:
    """The row's id as text; an empty one is refused."""
    if value is None:
        raise ScoringInputError(f"{where}: empty id column '{id_column}'")
    return str(value)
