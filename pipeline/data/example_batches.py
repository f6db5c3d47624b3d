"""Examples files read back as record batches: tfx_bsl's native decoder over GZIP TFRecords, a
batch of records per call (one proto a row in Python cost most of a reader's time on large
inputs). TensorFlow is imported only when a file is read."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

# Records decoded per call of the native decoder.
DECODE_BATCH_ROWS = 8192


def decoded_batches(files: Sequence[str], limit: int) -> Iterator[pa.RecordBatch]:
    """The first `limit` examples of these files (-1: all), in the order given, as record
    batches (a column per feature, a list per row)."""
    if not files:
        return
    import tensorflow as tf
    from tfx_bsl.coders import example_coder

    decoder = example_coder.ExamplesToRecordBatchDecoder()
    records = tf.data.TFRecordDataset(list(files), compression_type="GZIP").take(limit)
    for batch in records.batch(DECODE_BATCH_ROWS).as_numpy_iterator():
        yield decoder.DecodeBatch(list(batch))
