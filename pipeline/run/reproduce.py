"""Re-run a past run from what MLMD recorded and check that it gives the same outputs."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from pipeline.config import LATEST_SPAN, MetadataBackend, PipelineConfig
from pipeline.data import spans
from pipeline.errors import WorkFailed
from pipeline.metadata import pushes, records
from pipeline.metadata.connection import Artifact, Store
from pipeline.run import run_facts

EVALUATOR_NODE = "Evaluator"
JSON_FIELDS = ("config", "packages", "data_files", "git_dirty")
METRIC_TOLERANCE = 1e-6
# Transform's z-scores differ in the last float32 bits between runs (Beam combines means and
# variances in varying order): measured up to 4e-6 on trip_seconds_xf.
FLOAT_TOLERANCE = 1e-5
EXAMPLE_OUTPUTS = (("CsvExampleGen", "examples"), ("Transform", "transformed_examples"))
DIFF_SUFFIX = "_diff"
SCRATCH_PATHS = {
    "pipeline_root": "pipeline_root", "metadata_path": "metadata.sqlite",
    "serving_dir": "serving_model", "log_dir": "logs",
}


class ReproduceError(WorkFailed):
    """The run cannot be reproduced as asked; the message says why."""


@dataclass(frozen=True)
class Check:
    """One recorded fact compared with its reproduction."""

    name: str
    recorded: str
    reproduced: str
    ok: bool


def recorded_context(store: Store, run_id: str) -> dict[str, object]:
    """The run context a run recorded (its RecordRunContext output), JSON fields decoded."""
    context = pushes.run_context(store, run_id)
    if not context:
        raise ReproduceError(f"run '{run_id}' recorded no run context (made before it existed?)")
    for name in JSON_FIELDS:
        value = context.get(name)
        if isinstance(value, str):
            context[name] = json.loads(value)
    return context


def scratch_config(context: dict[str, object], scratch: Path) -> PipelineConfig:
    """The recorded config with outputs under `scratch`, the recorded span pinned, caching off."""
    values = dict(cast("Mapping[str, object]", context["config"]))
    values.update({field: str(scratch / name) for field, name in SCRATCH_PATHS.items()})
    # The re-run's metadata is a scratch SQLite file, never the recorded run's server store.
    values["metadata_backend"] = MetadataBackend.SQLITE.value
    span = context.get("data_span")
    values["spans"] = str(span) if span not in (None, "none") else LATEST_SPAN
    values["enable_cache"] = False
    return run_facts.config_from_record(values)


def environment_checks(context: dict[str, object], config: PipelineConfig) -> list[Check]:
    """Code, lock file, packages and data now, against what the run recorded."""
    now = run_facts.run_context(config, spans.resolve_spans(spans.local_data_dir(config), config.spans))
    names = ("code_fingerprint", "uv_lock_sha256", "data_fingerprint", "git_commit")
    checks = [Check(n, str(context.get(n)), str(now[n]), context.get(n) == now[n]) for n in names]
    checks.append(Check(
        "packages", json.dumps(context.get("packages"), sort_keys=True),
        json.dumps(now["packages"], sort_keys=True), context.get("packages") == now["packages"],
    ))
    return checks


def read_examples(artifact_uri: str) -> dict[str, list[dict[str, list]]]:
    """Every tf.Example of each split as {feature: values}, sorted into a canonical row order."""
    import tensorflow as tf

    result = {}
    for split_dir in sorted(Path(artifact_uri).glob("Split-*")):
        files = sorted(str(p) for p in split_dir.iterdir() if p.is_file())
        rows = []
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
            example = tf.train.Example.FromString(record.numpy())
            rows.append({
                name: list(f.float_list.value) or list(f.int64_list.value)
                or list(f.bytes_list.value)
                for name, f in example.features.feature.items()
            })
        result[split_dir.name] = sorted(rows, key=_row_key)
    return result


def _row_key(row: dict[str, list]) -> str:
    """Sort key that ignores float noise below the comparison tolerance."""
    return repr(sorted(
        (name, [round(v, 3) if isinstance(v, float) else v for v in values])
        for name, values in row.items()
    ))


def examples_difference(recorded_uri: str, reproduced_uri: str) -> tuple[bool, str]:
    """Same splits, rows and values (floats within FLOAT_TOLERANCE); the largest float gap."""
    old, new = read_examples(recorded_uri), read_examples(reproduced_uri)
    if {k: len(v) for k, v in old.items()} != {k: len(v) for k, v in new.items()}:
        return False, f"rows per split {({k: len(v) for k, v in new.items()})}"
    largest = 0.0
    for split, rows in old.items():
        for before, after in zip(rows, new[split], strict=True):
            if sorted(before) != sorted(after):
                return False, f"{split}: different features"
            for name, values in before.items():
                same, gap = _values_close(values, after[name])
                if not same:
                    return False, f"{split}: feature '{name}' differs ({values} vs {after[name]})"
                largest = max(largest, gap)
    return True, f"max float difference {largest:.2g}"


def _values_close(before: list, after: list) -> tuple[bool, float]:
    """Equal values, floats within FLOAT_TOLERANCE; the largest float gap."""
    if len(before) != len(after):
        return False, 0.0
    gap = 0.0
    for a, b in zip(before, after, strict=True):
        if isinstance(a, float):
            gap = max(gap, abs(a - b))
            if not math.isclose(a, b, rel_tol=FLOAT_TOLERANCE, abs_tol=FLOAT_TOLERANCE):
                return False, gap
        elif a != b:
            return False, gap
    return True, gap


def output_facts(store: Store, run_id: str) -> dict[str, object]:
    """Where the run's examples and transformed examples are, and its eval metrics."""
    from pipeline.metadata.evaluation_results import overall_metrics

    runs = {c.node_id: c for c in records.component_runs(store, run_id)}
    facts: dict[str, object] = {}
    for node, key in EXAMPLE_OUTPUTS:
        found: dict[str, str] = {}
        for node_id in sorted(n for n in runs if n == node or n.startswith(f"{node}_span")):
            found.update(_example_uris(node_id, key, runs[node_id].outputs.get(key) or []))
        if found:
            facts.update(found)
        else:
            facts[f"{node}.{key}"] = None
    evaluation = runs.get(EVALUATOR_NODE)
    metrics = (
        overall_metrics(evaluation.outputs["evaluation"][0].uri)
        if evaluation and evaluation.outputs.get("evaluation") else {}
    )
    facts["metrics"] = {name: float(value) for name, value in metrics.items()}
    return facts


def _example_uris(node_id: str, key: str, outputs: list[Artifact]) -> dict[str, str]:
    """'<node>.<key>' -> URI; numbered '[i]' in URI order when a node wrote several (Transform
    writes one transformed examples artifact per span of a window)."""
    uris = sorted(artifact.uri for artifact in outputs)
    if len(uris) == 1:
        return {f"{node_id}.{key}": uris[0]}
    return {f"{node_id}.{key}[{index}]": uri for index, uri in enumerate(uris)}


def compare_outputs(recorded: dict[str, object], reproduced: dict[str, object]) -> list[Check]:
    """Same examples and transformed examples, and every metric within METRIC_TOLERANCE."""
    checks = []
    for name in recorded:
        if name == "metrics":
            continue
        if not recorded[name] or not reproduced.get(name):
            checks.append(Check(name, str(recorded[name]), str(reproduced.get(name)), False))
            continue
        same, detail = examples_difference(str(recorded[name]), str(reproduced[name]))
        checks.append(Check(f"{name} ({detail})", str(recorded[name]), detail, same))
    old, new = _own_metrics(recorded["metrics"]), _own_metrics(reproduced["metrics"])
    for metric in sorted(set(old) | set(new)):
        both = metric in old and metric in new
        same = both and (
            abs(old[metric] - new[metric]) <= METRIC_TOLERANCE
            or (math.isnan(old[metric]) and math.isnan(new[metric]))
        )
        checks.append(Check(f"metric {metric}", str(old.get(metric)), str(new.get(metric)), same))
    if not old:
        checks.append(Check("metrics", "none recorded", str(new), False))
    return checks


def _own_metrics(metrics: object) -> dict[str, float]:
    """The model's metrics, without `*_diff` ones (they compare to a baseline model that a
    scratch re-run does not have)."""
    return {k: v for k, v in dict(cast("Mapping[str, float]", metrics)).items()
            if not k.endswith(DIFF_SUFFIX)}


def format_checks(checks: list[Check]) -> str:
    """One line per check: MATCH or DIFFERS, with both values when they differ."""
    lines = []
    for check in checks:
        if check.ok:
            lines.append(f"  MATCH    {check.name}")
        else:
            lines.append(f"  DIFFERS  {check.name}: recorded {check.recorded[:120]}"
                         f" | now {check.reproduced[:120]}")
    return "\n".join(lines)
