"""tf.Example's deterministic wire bytes, built a column at a time with Arrow and numpy.

A deterministic serialization writes the features map sorted by key, each entry as
`0a len (0a len key 12 len Feature)`, a Feature as its one list (`0a` bytes, `12` float, `1a`
int64) with packed numbers; an empty cell is an empty list, an all-empty column an empty
Feature. Building those bytes column-wise gives exactly what parsing each row and calling
`SerializeToString(deterministic=True)` gives, without a Python call per row.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BYTES_LIST, FLOAT_LIST, INT64_LIST = b"\x0a", b"\x12", b"\x1a"
VARINT_BYTES = 10  # a uint64 needs at most ten 7-bit groups
EMPTY = pa.scalar(b"", pa.large_binary())


def varint_sizes(values: np.ndarray) -> np.ndarray:
    """How many bytes each uint64's varint takes."""
    sizes = np.ones(len(values), np.int64)
    for group in range(1, VARINT_BYTES):
        sizes += values >= np.uint64(1 << (7 * group))
    return sizes


def varints(values: np.ndarray) -> pa.LargeBinaryArray:
    """Each uint64 as its base-128 varint (what protobuf writes for lengths and int64s)."""
    values = values.astype(np.uint64, copy=False)
    sizes = varint_sizes(values)
    width = int(sizes.max(initial=1))
    groups = (values[:, None] >> (7 * np.arange(width, dtype=np.uint64))) & np.uint64(0x7F)
    more = np.arange(width) < (sizes - 1)[:, None]
    data = (groups | (more.astype(np.uint64) << np.uint64(7))).astype(np.uint8)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(values),
        [None, pa.py_buffer(offsets), pa.py_buffer(data[np.arange(width) < sizes[:, None]])])


def varint(value: int) -> bytes:
    """One non-negative int as a varint, for the constant parts of an entry."""
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes([*out, value])


def constant(value: bytes) -> pa.Scalar:
    """A constant part of every row's bytes."""
    return pa.scalar(value, pa.large_binary())


def length_delimited(payload: pa.Array, valid: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Each valid row's `0a len payload` (a list message of one value), empty elsewhere, and the
    lengths."""
    lengths = pc.binary_length(payload).to_numpy(zero_copy_only=False).astype(np.uint64)
    message = pc.binary_join_element_wise(constant(b"\x0a"), varints(lengths), payload, EMPTY)
    present = valid.to_numpy(zero_copy_only=False)
    sizes = np.where(present, 1 + varint_sizes(lengths) + lengths.astype(np.int64), 0)
    return pc.if_else(valid, message, EMPTY), sizes


def list_message(cells: pa.Array) -> tuple[bytes, pa.Array, np.ndarray]:
    """A column's list field tag, each row's list message (empty where the cell is null) and its
    length."""
    valid = pc.is_valid(cells)
    if pa.types.is_integer(cells.type):
        numbers = pc.fill_null(cells, 0).to_numpy(zero_copy_only=False).view(np.uint64)
        return (INT64_LIST, *length_delimited(varints(numbers), valid))
    if pa.types.is_floating(cells.type):
        numbers = pc.fill_null(cells, 0).to_numpy(zero_copy_only=False).astype(np.float32)
        four = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(4), len(numbers), [None, pa.py_buffer(numbers.tobytes())])
        return (FLOAT_LIST, *length_delimited(four.cast(pa.large_binary()), valid))
    return (BYTES_LIST, *length_delimited(pc.fill_null(cells.cast(pa.large_binary()), EMPTY),
                                          valid))


def feature_entry(name: str, cells: pa.Array | None, rows: int) -> pa.Array:
    """Each row's features-map entry `0a len (0a len key 12 len (tag len list))` for one column;
    None for a column with no kind (the empty Feature)."""
    key = name.encode()
    head = b"\x0a" + varint(len(key)) + key + b"\x12"
    if cells is None:
        return pa.array([b"\x0a" + varint(len(head) + 1) + head + b"\x00"] * rows, pa.large_binary())
    tag, message, message_sizes = list_message(cells)
    feature_sizes = 1 + varint_sizes(message_sizes.astype(np.uint64)) + message_sizes
    entry_sizes = len(head) + varint_sizes(feature_sizes.astype(np.uint64)) + feature_sizes
    return pc.binary_join_element_wise(
        constant(b"\x0a"), varints(entry_sizes), constant(head), varints(feature_sizes),
        constant(tag), varints(message_sizes), message, EMPTY)


def serialized_examples(columns: Mapping[str, pa.Array | None], rows: int) -> pa.Array:
    """Each row's tf.Example as deterministic bytes; a column maps to its typed cells (int64,
    float32, or bytes; null = empty cell), or to None when it has no kind."""
    entries = [feature_entry(name, columns[name], rows) for name in sorted(columns)]
    features = pc.binary_join_element_wise(*entries, EMPTY)
    lengths = pc.binary_length(features).to_numpy(zero_copy_only=False).astype(np.uint64)
    return pc.binary_join_element_wise(constant(b"\x0a"), varints(lengths), features, EMPTY)
