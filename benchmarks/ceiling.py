"""The ceiling of batch scoring: a pushed SavedModel loaded in process (tf.saved_model.load), its
serving signature called on large batches of serialized tf.Examples made from the same CSV files
`score` reads (Arrow's columnar CSV reader, tfx_bsl's native record-batch-to-example encoder).
No Beam, no log, no records: the fastest honest way to get the same answers. Each phase is timed.

    python -m benchmarks.ceiling --model DIR --data PATH --output ceiling.json [--batch 8192]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

from pipeline.vocabulary import SERVING_SIGNATURE

BATCH = 8192
# The model's input dtypes (its serving_raw signature) as Arrow types of the CSV columns.
ARROW_TYPES = {"DT_FLOAT": "float32", "DT_DOUBLE": "float64", "DT_INT64": "int64",
               "DT_INT32": "int64", "DT_STRING": "binary"}


def list_column(column):
    """One value per row as a list array: a missing cell is an empty list (a feature left out of
    that row's example, as `score` leaves it out)."""
    import numpy as np
    import pyarrow as pa

    array = column.combine_chunks()
    offsets = np.concatenate([[0], np.cumsum(array.is_valid().to_numpy(zero_copy_only=False))])
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), array.drop_null())


def read_table(files: Sequence[Path], types: dict[str, str]):
    """The model's input columns of every file, typed as the model reads them (empty cells null)."""
    import pyarrow as pa
    from pyarrow import csv

    options = csv.ConvertOptions(
        include_columns=list(types), strings_can_be_null=True,
        column_types={name: ARROW_TYPES[dtype] for name, dtype in types.items()})
    return pa.concat_tables([csv.read_csv(path, convert_options=options) for path in files])


def score(model_dir: Path, data: Path, batch: int) -> dict:
    """Every row's serving-signature outputs, with the seconds of each phase."""
    seconds: dict[str, float] = {}
    clock = time.monotonic()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.monotonic()
        seconds[phase] = seconds.get(phase, 0.0) + now - clock
        clock = now

    import pyarrow as pa
    import tensorflow as tf
    from tfx_bsl.coders import example_coder

    from pipeline.scoring.inputs import input_paths, input_types

    lap("imports")
    signature = tf.saved_model.load(str(model_dir)).signatures[SERVING_SIGNATURE]
    types = input_types(model_dir)
    lap("load_model")
    table = read_table(input_paths(data), types)
    lap("read_csv")
    for start in range(0, table.num_rows, batch):
        part = table.slice(start, batch)
        lists = pa.RecordBatch.from_arrays([list_column(part[n]) for n in types], list(types))
        examples = example_coder.RecordBatchToExamples(lists)
        lap("encode_examples")
        outputs = signature(examples=tf.constant(examples))
        _ = {name: value.numpy() for name, value in outputs.items()}
        lap("model_calls")
    work = seconds["read_csv"] + seconds["encode_examples"] + seconds["model_calls"]
    return {
        "rows": table.num_rows, "batch": batch,
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "rows_per_second_in_process": round(table.num_rows / work, 1),
        "rows_per_second_model_calls": round(table.num_rows / seconds["model_calls"], 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Score the data and write the timings as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ceiling", description=__doc__)
    parser.add_argument("--model", type=Path, required=True, help="a pushed version's folder")
    parser.add_argument("--data", type=Path, required=True, help="a CSV file or folder")
    parser.add_argument("--output", type=Path, required=True, help="where the JSON goes")
    parser.add_argument("--batch", type=int, default=BATCH, help="rows per signature call")
    args = parser.parse_args(argv)
    answer = score(args.model, args.data, args.batch)
    args.output.write_text(json.dumps(answer, indent=2) + "\n")
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
