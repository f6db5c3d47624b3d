"""The baseline model's recorded evaluation, reused instead of scoring the baseline again.

After a model edit, the baseline (latest blessed model) was itself evaluated, as the candidate, on
the very examples artifact this run evaluates: its metrics are on disk in that earlier evaluation.
Every evaluation here leaves a record of what it scored (EVALUATED_FILE: examples and model
artifact id and URI, and a fingerprint of the metric-relevant eval config) beside TFMA's files,
so a later Evaluator finds it among its siblings without a store connection (TFX executors get
none). When one matches exactly, the candidate is evaluated alone and TFMA's two-model output is
assembled from both: the baseline's metrics, the diffs (candidate minus baseline, as TFMA's
AddDiffMetrics computes them) and the ValidationResult from TFMA's own validator and combiner.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from tfx import types
from tfx.dsl.io import fileio
from tfx.utils import proto_utils

# Written beside TFMA's files in every evaluation: what it scored, read by later evaluations.
EVALUATED_FILE = "evaluated_inputs.json"
# TFMA's model names when a baseline is compared (tfma.utils.update_eval_config_with_defaults).
CANDIDATE, BASELINE = "candidate", "baseline"
# Files TFMA writes that reuse needs in the recorded evaluation.
REQUIRED_FILES = ("eval_config.json", EVALUATED_FILE)
METRICS_FILE = "metrics-00000-of-00001.tfrecord"
VALIDATIONS_FILE = "validations.tfrecord"


class NotReusable(Exception):
    """The recorded evaluation holds something the reuse path does not reproduce exactly."""


def config_fingerprint(eval_config_json: str) -> str:
    """Hash of what decides the metric values: model specs, metrics and slices, without names,
    thresholds (they decide the blessing, which is recomputed) and the model type (it follows
    from the model artifact, recorded beside: pipeline.graph.model_type). Read as the proto, so
    that the JSON's field spelling (TFX writes proto field names) cannot hide a field."""
    import tensorflow_model_analysis as tfma

    config = proto_utils.json_to_proto(eval_config_json, tfma.EvalConfig())
    for model in config.model_specs:
        for field in ("name", "is_baseline", "model_type"):
            model.ClearField(field)
    for spec in config.metrics_specs:
        spec.ClearField("model_names")
        spec.ClearField("thresholds")
        for metric in spec.metrics:
            for field in ("threshold", "per_slice_thresholds", "cross_slice_thresholds"):
                metric.ClearField(field)
    return hashlib.sha256(proto_utils.proto_to_json(config).encode()).hexdigest()


def record(examples: types.Artifact, model: types.Artifact, eval_config_json: str) -> dict:
    """What an evaluation scored: the examples and model artifacts and the config fingerprint."""
    return {"examples": {"id": examples.id, "uri": examples.uri},
            "model": {"id": model.id, "uri": model.uri},
            "config": config_fingerprint(eval_config_json)}


def write_record(evaluation_uri: str, evaluated: dict) -> None:
    """Leave the record beside TFMA's files."""
    with fileio.open(os.path.join(evaluation_uri, EVALUATED_FILE), "w") as f:
        f.write(json.dumps(evaluated, sort_keys=True))


def find(evaluation_uri: str, wanted: dict) -> str | None:
    """The newest sibling evaluation whose record is `wanted` (the baseline as its candidate, the
    same examples, the same config), with every file reuse reads; None when there is none."""
    parent = os.path.dirname(evaluation_uri.rstrip("/"))
    if not fileio.exists(parent):
        return None
    siblings = [os.path.join(parent, name.rstrip("/")) for name in _names(parent)]
    siblings = [s for s in siblings if s.rstrip("/") != evaluation_uri.rstrip("/")]
    for sibling in sorted(siblings, key=_newest_first):
        if _recorded(sibling) == wanted and _complete(sibling):
            return sibling
    return None


def _names(folder: str) -> list[str]:
    """The entries of a folder, as text."""
    return [os.fsdecode(name) for name in fileio.listdir(folder)]


def _newest_first(path: str) -> tuple[int, str]:
    """Execution-id folders, highest first (non-numeric names last)."""
    name = os.path.basename(path)
    return (-int(name), name) if name.isdigit() else (1, name)


def _recorded(evaluation_uri: str) -> dict | None:
    """The record an earlier evaluation left, or None (none, or unreadable)."""
    path = os.path.join(evaluation_uri, EVALUATED_FILE)
    if not fileio.exists(path):
        return None
    try:
        with fileio.open(path) as f:
            return json.loads(f.read())
    except ValueError:
        return None


def _complete(evaluation_uri: str) -> bool:
    """Whether the evaluation still has its config, its record and a metrics file."""
    files = _names(evaluation_uri)
    return all(name in files for name in REQUIRED_FILES) and any(
        name.startswith("metrics") for name in files)


def two_model_config(eval_config_json: str) -> Any:
    """The EvalConfig TFX's executor builds when a baseline is given (candidate and baseline)."""
    import tensorflow_model_analysis as tfma

    config = proto_utils.json_to_proto(eval_config_json, tfma.EvalConfig())
    return tfma.utils.update_eval_config_with_defaults(config, has_baseline=True, rubber_stamp=True)


def candidate_alone(full: Any) -> Any:
    """The two-model config with the candidate only and no thresholds: the same metric
    computations for the candidate, named as in the two-model run, and no validation."""
    alone = type(full)()
    alone.CopyFrom(full)
    del alone.model_specs[:]
    alone.model_specs.extend(s for s in full.model_specs if not s.is_baseline)
    for spec in alone.metrics_specs:
        spec.model_names[:] = [CANDIDATE]
        spec.ClearField("thresholds")
        for metric in spec.metrics:
            metric.ClearField("threshold")
            metric.ClearField("per_slice_thresholds")
            metric.ClearField("cross_slice_thresholds")
    return alone


def has_plots(full: Any) -> bool:
    """Whether the config asks for TFMA plots (kept on TFMA's own two-model path)."""
    return any(m.class_name.endswith("Plot") for s in full.metrics_specs for m in s.metrics)


def compare(output_uri: str, recorded_uri: str, full: Any) -> Any:
    """Turn the candidate-alone evaluation in output_uri into TFMA's two-model output against the
    recorded one: metrics of both models and their diffs, ValidationResult, eval_config.json."""
    recorded_path = _candidate_location(recorded_uri)
    candidate, baseline = _sliced(output_uri), _sliced(recorded_uri)
    if set(candidate) != set(baseline):
        raise NotReusable("the recorded evaluation has other slices")
    merged = {key: _with_baseline(candidate[key], baseline[key]) for key in candidate}
    _write_metrics(output_uri, merged)
    result = _validate(merged, full)
    _write_records(os.path.join(output_uri, VALIDATIONS_FILE), [result.SerializeToString()])
    _write_eval_run(output_uri, full, recorded_path)
    return result


def _candidate_location(evaluation_uri: str) -> str:
    """The model location an evaluation recorded for its candidate (not its baseline)."""
    from tensorflow_model_analysis.writers.eval_config_writer import load_eval_run

    config, _, _, locations = load_eval_run(evaluation_uri)
    name = next(s.name for s in config.model_specs if not s.is_baseline)
    return locations.get(name, "")


def _sliced(evaluation_uri: str) -> dict[Any, dict[Any, float]]:
    """The candidate's metrics per slice key (not its baseline's, not diffs); doubles only.
    TFMA names a lone model's metrics '' whatever its spec's name."""
    from tensorflow_model_analysis.metrics import metric_types
    from tensorflow_model_analysis.slicer import slicer_lib
    from tensorflow_model_analysis.writers import metrics_plots_and_validations_writer as writer
    from tensorflow_model_analysis.writers.eval_config_writer import load_eval_run

    others = {s.name for s in load_eval_run(evaluation_uri)[0].model_specs if s.is_baseline}
    sliced: dict[Any, dict[Any, float]] = {}
    for proto in writer.load_and_deserialize_metrics(evaluation_uri):
        values = {}
        for entry in proto.metric_keys_and_values:
            key = metric_types.MetricKey.from_proto(entry.key)
            if key.model_name in others or key.is_diff:
                continue
            if entry.value.WhichOneof("type") != "double_value":
                raise NotReusable(f"{key.name} is not a number")
            values[key] = entry.value.double_value.value
        sliced[slicer_lib.deserialize_slice_key(proto.slice_key)] = values
    return sliced


def _with_baseline(candidate: dict[Any, float], baseline: dict[Any, float]) -> dict[Any, float]:
    """Both models' metrics and candidate-minus-baseline diffs, as TFMA's AddDiffMetrics."""
    ours = {k._replace(model_name=CANDIDATE): v for k, v in candidate.items()}
    theirs = {k._replace(model_name=BASELINE): v for k, v in baseline.items()}
    diffs = {k.make_diff_key(): v - theirs[k.make_baseline_key(BASELINE)]
             for k, v in ours.items() if k.make_baseline_key(BASELINE) in theirs}
    return {**ours, **theirs, **diffs}


def _validate(merged: dict[Any, dict[Any, float]], full: Any) -> Any:
    """TFMA's per-slice validation, combined by TFMA's CombineValidations (no rubber stamp)."""
    from tensorflow_model_analysis.evaluators import metrics_validator
    from tensorflow_model_analysis.writers import metrics_plots_and_validations_writer as writer

    combine = writer.CombineValidations(full, rubber_stamp=False)
    accumulator = combine.create_accumulator()
    for slice_key, metrics in merged.items():
        accumulator = combine.add_input(
            accumulator, metrics_validator.validate_metrics((slice_key, metrics), full))
    return combine.extract_output(accumulator)


def _write_metrics(output_uri: str, merged: dict[Any, dict[Any, float]]) -> None:
    """Replace the candidate-alone metrics file(s) with the two-model MetricsForSlice records."""
    from tensorflow_model_analysis.writers import metrics_plots_and_validations_writer as writer

    for name in _names(output_uri):
        if name.startswith("metrics"):
            fileio.remove(os.path.join(output_uri, name))
    _write_records(os.path.join(output_uri, METRICS_FILE), [
        writer.convert_slice_metrics_to_proto(item, add_metrics_callbacks=[]).SerializeToString()
        for item in merged.items()])


def _write_records(path: str, records: list[bytes]) -> None:
    """A TFRecord file of the serialized protos, as TFMA's writer leaves it."""
    import tensorflow as tf

    with tf.io.TFRecordWriter(path) as writer:
        for serialized in records:
            writer.write(serialized)


def _write_eval_run(output_uri: str, full: Any, baseline_path: str) -> None:
    """eval_config.json as TFMA writes it for a two-model run (the notebooks read model names)."""
    from tensorflow_model_analysis.writers import eval_config_writer

    path = os.path.join(output_uri, "eval_config.json")
    _, data_location, file_format, locations = eval_config_writer.load_eval_run(output_uri)
    text = eval_config_writer._serialize_eval_run(  # noqa: SLF001 - TFMA's own writer format
        full, data_location, file_format, {**locations, BASELINE: baseline_path})
    with fileio.open(path, "w") as f:
        f.write(text)
