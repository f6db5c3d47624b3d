"""CsvExampleGen's blocks: a large file cut into an even number of equal blocks (its two Beam
workers then get equal shares), the same rows whatever the block size."""

from __future__ import annotations

import io

import pytest

from pipeline.data import csv_format

MB = 1 << 20


@pytest.mark.parametrize(("file_bytes", "blocks"), [
    (1, 1), (csv_format.BLOCK_BYTES, 1), (csv_format.BLOCK_BYTES + 1, 2), (178 * MB, 12),
    (33 * MB, 4), (1000 * MB, 64)])
def test_a_file_is_cut_into_equal_blocks_an_even_number_beyond_one(file_bytes: int,
                                                                   blocks: int) -> None:
    size = csv_format.block_bytes(file_bytes)
    assert size <= csv_format.BLOCK_BYTES
    assert -(-file_bytes // size) == blocks
    assert blocks == 1 or blocks % 2 == 0


def test_the_block_size_changes_the_blocks_not_the_rows() -> None:
    header = ["id", "text", "value"]
    lines = [f'{i},"cell, {i}\nsecond line",{i * 0.5}' if i % 7 == 0 else f"{i},x{i},"
             for i in range(3000)]
    data = ("\n".join([",".join(header), *lines]) + "\n").encode()

    def rows(block_size: int) -> tuple[int, list[dict[str, object]]]:
        blocks = list(csv_format.arrow_blocks(io.BytesIO(data), header, block_size))
        return len(blocks), [row for block in blocks for row in block.to_pylist()]

    whole, small = rows(csv_format.BLOCK_BYTES), rows(len(data) // 8)
    assert whole[0] == 1 and small[0] >= 8
    assert small[1] == whole[1] and len(whole[1]) == 3000
