"""Model measurements that need TensorFlow, run as their own process by the suite.

Quality: each Evaluator's overall metrics, and both models scored on the same held-out rows
(rows in the eval split of both pipelines, labelled by our model's Transform graph). Serving:
p50/p99 latency of the served SavedModel's signatures loaded in process, per batch size.

    python -m benchmarks.probe --spec probe_spec.json --output probe.json
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pipeline.vocabulary import EVAL_SPLIT, RAW_SIGNATURE, SERVING_INPUT, SERVING_SIGNATURE, split_folder

PREDICT_BATCH = 1024
WARMUP_CALLS = 3
LARGE_BATCH = 1024
# Large batches take longer per call; fewer calls keep every batch size to a similar time budget.
LARGE_BATCH_CALL_DIVISOR = 10


def evaluator_metrics(evaluation_uri: str | None) -> dict[str, float]:
    """The overall slice of an Evaluator's output, whatever its metric names are."""
    if not evaluation_uri:
        return {}
    from pipeline.metadata.evaluation_results import overall_metrics

    return overall_metrics(evaluation_uri)


def eval_records(examples_uri: str) -> dict[tuple, bytes]:
    """Serialized examples of an ExampleGen artifact's eval split, keyed by their content.

    The key is the parsed features in name order: two ExampleGens may serialize the same row to
    different bytes (map order), so bytes cannot be compared across pipelines.
    """
    import tensorflow as tf

    files = sorted(glob.glob(str(Path(examples_uri) / split_folder(EVAL_SPLIT) / "*")))
    records = {}
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        serialized = record.numpy()
        parsed = tf.train.Example.FromString(serialized).features.feature
        key = tuple((name, str(parsed[name]).replace("\n", " ")) for name in sorted(parsed))
        records[key] = serialized
    return records


def labels_and_weights(model_dir: str, records: list[bytes]):
    """The project's label and weight of raw examples, from our model's transform_features signature:
    the project's own rule, whatever it is, without importing the project's code."""
    import numpy as np
    import tensorflow as tf

    from pipeline.config import PipelineConfig
    from pipeline.vocabulary import TRANSFORM_SIGNATURE, WEIGHT_KEY, label_key

    signature = tf.saved_model.load(model_dir).signatures[TRANSFORM_SIGNATURE]
    key = label_key(PipelineConfig().declaration.label)
    batches = [signature(examples=tf.constant(records[start:start + PREDICT_BATCH]))
               for start in range(0, len(records), PREDICT_BATCH)]
    label = np.concatenate([batch[key].numpy().reshape(-1) for batch in batches])
    weight = np.concatenate([batch[WEIGHT_KEY].numpy().reshape(-1) for batch in batches])
    return label, weight


def predictions(model_dir: str, output_key: str, records: list[bytes]):
    """Probabilities from a model's serving_default signature, in batches."""
    import numpy as np
    import tensorflow as tf

    signature = tf.saved_model.load(model_dir).signatures[SERVING_SIGNATURE]
    parts = [
        signature(examples=tf.constant(records[start:start + PREDICT_BATCH]))[output_key].numpy()
        for start in range(0, len(records), PREDICT_BATCH)
    ]
    return np.concatenate(parts).reshape(-1)


def scores(label, weight, probability) -> dict[str, float]:
    """Weighted AUC and accuracy (threshold 0.5), as the Evaluators compute them."""
    import tensorflow as tf

    auc = tf.keras.metrics.AUC(num_thresholds=1000)
    accuracy = tf.keras.metrics.BinaryAccuracy()
    auc.update_state(label, probability, sample_weight=weight)
    accuracy.update_state(label, probability, sample_weight=weight)
    return {"auc": float(auc.result()), "binary_accuracy": float(accuracy.result())}


def common_holdout(spec: dict) -> dict[str, object]:
    """Both models on the rows neither trained on; our eval split alone if theirs is absent."""
    from benchmarks.tfx_example import OUTPUT_KEY
    from pipeline.vocabulary import PROBABILITIES_OUTPUT as PROBABILITY_OUTPUT

    records = eval_records(spec["ours_examples"])
    if spec.get("tfx_examples"):
        common = records.keys() & eval_records(spec["tfx_examples"]).keys()
        records = {key: records[key] for key in common}
    ordered = [records[key] for key in sorted(records)]
    if not ordered:
        return {"rows": 0}
    label, weight = labels_and_weights(spec["ours_model"], ordered)
    result: dict[str, object] = {"rows": len(ordered), "weighted_rows": float(weight.sum())}
    result["ours"] = scores(label, weight, predictions(spec["ours_model"], PROBABILITY_OUTPUT,
                                                       ordered))
    if spec.get("tfx_model"):
        result["tfx_example"] = scores(label, weight, predictions(spec["tfx_model"], OUTPUT_KEY,
                                                                  ordered))
    return result


def complete_rows(data_dir: str, keys: Sequence[str], needed: int) -> list[dict[str, str]]:
    """CSV rows with every serving feature present, as a client would send them."""
    rows: list[dict[str, str]] = []
    for path in sorted(glob.glob(str(Path(data_dir) / "*.csv"))):
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                if all(row.get(key) for key in keys):
                    rows.append(row)
                if len(rows) >= needed:
                    return rows
    return rows


def _feature(value: object, dtype) -> object:
    """One tf.train.Feature holding a single value of the signature's dtype."""
    import tensorflow as tf

    if dtype == tf.string:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(value).encode()]))
    if dtype.is_integer:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
    return tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))


def request_inputs(rows: list[dict[str, str]], dtypes: dict, batch: int):
    """The same `batch` rows as serialized tf.Examples and as named raw columns."""
    import numpy as np
    import tensorflow as tf

    picked = [rows[i % len(rows)] for i in range(batch)]
    columns = {
        key: np.array([row[key] for row in picked]).astype(
            object if dtype == tf.string else dtype.as_numpy_dtype)
        for key, dtype in dtypes.items()
    }
    examples = [
        tf.train.Example(features=tf.train.Features(feature={
            key: _feature(columns[key][i], dtype) for key, dtype in dtypes.items()
        })).SerializeToString()
        for i in range(batch)
    ]
    raw = {key: tf.constant(values, dtype=dtypes[key]) for key, values in columns.items()}
    return {SERVING_INPUT: tf.constant(examples)}, raw


def timed_calls(function, inputs: dict, calls: int) -> dict[str, float]:
    """Latency percentiles of `calls` calls after a warm-up, outputs fetched inside the timer."""
    import numpy as np

    for _ in range(WARMUP_CALLS):
        function(**inputs)
    latencies = []
    for _ in range(calls):
        start = time.perf_counter()
        outputs = function(**inputs)
        for value in outputs.values():
            value.numpy()
        latencies.append(time.perf_counter() - start)
    seconds = np.array(latencies)
    return {
        "calls": calls,
        "p50_ms": round(float(np.percentile(seconds, 50)) * 1000, 3),
        "p99_ms": round(float(np.percentile(seconds, 99)) * 1000, 3),
        "mean_ms": round(float(seconds.mean()) * 1000, 3),
    }


def serving_latency(spec: dict) -> dict[str, object]:
    """p50/p99 per signature and batch size, and the rows per second that implies."""
    import tensorflow as tf

    loaded = tf.saved_model.load(spec["ours_model"])
    raw_signature = loaded.signatures[RAW_SIGNATURE]
    dtypes = {k: s.dtype for k, s in raw_signature.structured_input_signature[1].items()}
    rows = complete_rows(spec["data"], list(dtypes), max(spec["batch_sizes"]))
    if not rows:
        return {"error": f"no row of {spec['data']} has every serving feature"}
    results: dict[str, list] = {SERVING_SIGNATURE: [], RAW_SIGNATURE: []}
    for batch in spec["batch_sizes"]:
        examples, raw = request_inputs(rows, dtypes, batch)
        calls = spec["calls"] if batch < LARGE_BATCH else max(
            5, spec["calls"] // LARGE_BATCH_CALL_DIVISOR)
        for name, inputs in ((SERVING_SIGNATURE, examples), (RAW_SIGNATURE, raw)):
            timing = timed_calls(loaded.signatures[name], inputs, calls)
            timing["batch"] = batch
            timing["rows_per_second"] = round(batch / (timing["mean_ms"] / 1000), 1)
            results[name].append(timing)
    return {"model": spec["ours_model"], "model_source": spec["model_source"],
            "distinct_rows": len(rows), "signatures": results}


def probe(spec: dict) -> dict[str, object]:
    """Everything the suite asks of the trained models."""
    return {
        "evaluator": {
            "ours": evaluator_metrics(spec.get("ours_evaluation")),
            "tfx_example": evaluator_metrics(spec.get("tfx_evaluation")),
        },
        "common_holdout": common_holdout(spec),
        "serving": serving_latency(spec),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Read the spec the suite wrote, write the measurements as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.probe", description=__doc__)
    parser.add_argument("--spec", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    from pipeline import environment

    environment.prepare()
    result = probe(json.loads(args.spec.read_text()))
    args.output.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
