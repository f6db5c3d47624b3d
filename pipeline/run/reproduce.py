"""Re-run a past run from what MLMD recorded and check that it gives the same outputs.

Examples are compared exactly; transformed examples' floats and eval metrics within the project's
declared `reproducibility:` tolerances (pipeline/config/project.py), since float sums in Beam
combines may run in another order in a re-run.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from pipeline.config import LATEST_SPAN, MetadataBackend, PipelineConfig, is_uri
from pipeline.config.project import Reproducibility, Tolerance
from pipeline.config.record import config_from_record
from pipeline.data import spans
from pipeline.errors import WorkFailed
from pipeline.metadata import pushes, records
from pipeline.metadata.connection import Artifact, Store
from pipeline.metadata.evaluation_results import overall_metrics
from pipeline.run import manifest
from pipeline.vocabulary import (
    EVALUATION_KEY,
    EVALUATOR,
    EXAMPLE_GEN,
    EXAMPLES_KEY,
    TRANSFORM,
    TRANSFORMED_EXAMPLES_KEY,
    split_folder,
)

JSON_FIELDS = ("config", "packages", "data_files", "git_dirty")
EXAMPLE_OUTPUTS = ((EXAMPLE_GEN, EXAMPLES_KEY), (TRANSFORM, TRANSFORMED_EXAMPLES_KEY))
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
    context = pushes.recorded_run_context(store, run_id)
    if not context:
        raise ReproduceError(f"run '{run_id}' recorded no run context (made before it existed?)")
    for name in JSON_FIELDS:
        value = context.get(name)
        if isinstance(value, str):
            context[name] = json.loads(value)
    return context


def scratch_config(context: dict[str, object], scratch: Path) -> PipelineConfig:
    """The recorded config with outputs under `scratch`, the recorded span pinned, caching off."""
    recorded = context.get("config")
    if not isinstance(recorded, dict):
        raise ReproduceError("the run recorded no config in its run context: it cannot be re-run")
    values = dict(cast("Mapping[str, object]", recorded))
    values.update({field: str(scratch / name) for field, name in SCRATCH_PATHS.items()})
    # The re-run's metadata is a scratch SQLite file, never the recorded run's server store.
    values["metadata_backend"] = MetadataBackend.SQLITE.value
    values["spans"] = recorded_spans(context.get("data_span"), values.get("data_dir"))
    values["enable_cache"] = False
    return config_from_record(values)


def recorded_spans(span: object, data_dir: object) -> str:
    """The `spans` value that reads the recorded data again: a run on a plain folder that ingest
    has since turned into span folders read what is now span 1 (pipeline.data.ingest)."""
    if span not in (None, "none"):
        return str(span)
    if isinstance(data_dir, str) and not is_uri(data_dir) and spans.list_spans(Path(data_dir)):
        return "1"
    return LATEST_SPAN


def environment_checks(context: dict[str, object], config: PipelineConfig) -> list[Check]:
    """Code, lock file, packages and data now, against what the run recorded."""
    window = spans.resolve_spans(spans.local_data_dir(config), config.spans)
    now = manifest.compute_run_context(config, window)
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
    for split_dir in sorted(tf.io.gfile.glob(os.path.join(artifact_uri, split_folder("*")))):
        if not tf.io.gfile.isdir(split_dir):
            continue
        files = sorted(path for name in tf.io.gfile.listdir(split_dir)
                       if not tf.io.gfile.isdir(path := os.path.join(split_dir, name)))
        rows = []
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
            example = tf.train.Example.FromString(record.numpy())
            rows.append({
                name: list(f.float_list.value) or list(f.int64_list.value)
                or list(f.bytes_list.value)
                for name, f in example.features.feature.items()
            })
        result[os.path.basename(split_dir)] = sorted(rows, key=_row_key)
    return result


def _row_key(row: dict[str, list]) -> str:
    """Sort key that ignores float noise below the comparison tolerance."""
    return repr(sorted(
        (name, [round(v, 3) if isinstance(v, float) else v for v in values])
        for name, values in row.items()
    ))


@dataclass
class Compared:
    """One output compared with its reproduction: the largest float difference found (and where),
    how many values fell outside the bound, and any difference no tolerance covers (`problem`:
    rows per split, features, integers, strings, a missing output or metric)."""

    name: str
    bound: Tolerance
    largest: float = 0.0
    where: str = ""
    outside: int = 0
    problem: str = ""
    recorded: str = ""
    reproduced: str = ""

    @property
    def exact(self) -> bool:
        return not self.problem and self.largest == 0.0 and self.outside == 0

    @property
    def ok(self) -> bool:
        return not self.problem and self.outside == 0

    def add(self, a: float, b: float, where: str) -> None:
        """Hold one recorded value `a` and its reproduction `b` to the bound."""
        if not self.bound.allows(a, b):
            self.outside += 1
        if a == b or (math.isnan(a) and math.isnan(b)):
            return
        gap = abs(a - b)
        gap = math.inf if math.isnan(gap) else gap
        if gap > self.largest:
            self.largest, self.where = gap, where


def compare_examples(name: str, recorded_uri: str, reproduced_uri: str, bound: Tolerance) -> Compared:
    """Same splits, rows and features; integers and strings exactly, floats within `bound`."""
    return compare_rows(name, read_examples(recorded_uri), read_examples(reproduced_uri), bound)


def compare_rows(name: str, old: dict[str, list[dict[str, list]]],
                 new: dict[str, list[dict[str, list]]], bound: Tolerance) -> Compared:
    """The row-by-row comparison of compare_examples, on rows already read and sorted."""
    result = Compared(name, bound)
    sizes_old, sizes_new = ({k: len(v) for k, v in rows.items()} for rows in (old, new))
    if sizes_old != sizes_new:
        result.problem = f"rows per split {sizes_old} recorded, {sizes_new} now"
        return result
    for split, rows in old.items():
        for before, after in zip(rows, new[split], strict=True):
            if sorted(before) != sorted(after):
                result.problem = f"{split}: features {sorted(set(before) ^ set(after))} differ"
                return result
            for feature, values in before.items():
                if len(values) != len(after[feature]):
                    result.problem = f"{split}: feature '{feature}' has a different number of values"
                    return result
                for a, b in zip(values, after[feature], strict=True):
                    if isinstance(a, float) and isinstance(b, float):
                        result.add(a, b, feature)
                    elif a != b:
                        result.problem = f"{split}: feature '{feature}' differs ({a!r} vs {b!r})"
                        return result
    return result


def compare_metrics(recorded: Mapping[str, float], reproduced: Mapping[str, float],
                    bound: Tolerance) -> list[Compared]:
    """Every metric both runs have, within `bound`; one missing on either side is a problem."""
    old, new = own_metrics(recorded), own_metrics(reproduced)
    if not old:
        return [Compared("metrics", bound, problem="none recorded", reproduced=str(new))]
    results = []
    for metric in sorted(set(old) | set(new)):
        result = Compared(f"metric {metric}", bound, recorded=str(old.get(metric)),
                          reproduced=str(new.get(metric)))
        if metric in old and metric in new:
            result.add(old[metric], new[metric], metric)
        else:
            result.problem = "missing " + ("now" if metric in old else "in the recorded run")
        results.append(result)
    return results


def run_outputs(store: Store, run_id: str) -> dict[str, object]:
    """Where the run's examples and transformed examples are, and its eval metrics."""
    runs = {c.node_id: c for c in records.component_runs(store, run_id)}
    outputs: dict[str, object] = {}
    for node, key in EXAMPLE_OUTPUTS:
        found: dict[str, str] = {}
        for node_id in sorted(n for n in runs if n == node or n.startswith(f"{node}_span")):
            found.update(_example_uris(node_id, key, runs[node_id].outputs.get(key) or []))
        if found:
            outputs.update(found)
        else:
            outputs[f"{node}.{key}"] = None
    evaluation = runs.get(EVALUATOR)
    metrics = (
        overall_metrics(evaluation.outputs[EVALUATION_KEY][0].uri)
        if evaluation and evaluation.outputs.get(EVALUATION_KEY) else {}
    )
    outputs["metrics"] = {name: float(value) for name, value in metrics.items()}
    return outputs


def _example_uris(node_id: str, key: str, outputs: list[Artifact]) -> dict[str, str]:
    """'<node>.<key>' -> URI; numbered '[i]' in URI order when a node wrote several (Transform
    writes one transformed examples artifact per span of a window)."""
    uris = sorted(artifact.uri for artifact in outputs)
    if len(uris) == 1:
        return {f"{node_id}.{key}": uris[0]}
    return {f"{node_id}.{key}[{index}]": uri for index, uri in enumerate(uris)}


def compare_outputs(recorded: dict[str, object], reproduced: dict[str, object],
                    bounds: Reproducibility) -> list[Compared]:
    """Examples exactly, transformed examples and eval metrics within the project's bounds."""
    results = []
    for name in recorded:
        if name == "metrics":
            continue
        bound = bounds.transformed if name.startswith(TRANSFORM) else Tolerance()
        if not recorded[name] or not reproduced.get(name):
            results.append(Compared(name, bound, problem="output missing", recorded=str(recorded[name]),
                                    reproduced=str(reproduced.get(name))))
            continue
        results.append(compare_examples(name, str(recorded[name]), str(reproduced[name]), bound))
    metrics = (cast("Mapping[str, float]", recorded["metrics"]),
               cast("Mapping[str, float]", reproduced.get("metrics") or {}))
    return results + compare_metrics(*metrics, bounds.metrics)


def own_metrics(metrics: object) -> dict[str, float]:
    """The model's metrics, without `*_diff` ones (they compare to a baseline model that a
    scratch re-run does not have)."""
    return {k: v for k, v in dict(cast("Mapping[str, float]", metrics)).items()
            if not k.endswith(DIFF_SUFFIX)}


def verdict(environment: list[Check], outputs: list[Compared],
            informational: tuple[str, ...]) -> tuple[str, int]:
    """Exactly one of 'REPRODUCED exactly', 'REPRODUCED within tolerance' or 'MISMATCH: <what
    moved>', with the exit code (0, 0, 1). Environment checks named in `informational` never
    decide it."""
    moved = [c.name for c in environment if not c.ok and c.name not in informational]
    moved += [r.name for r in outputs if not r.ok]
    if moved:
        return f"MISMATCH: {', '.join(moved)} moved", 1
    if all(r.exact for r in outputs):
        return "REPRODUCED exactly", 0
    return "REPRODUCED within tolerance", 0
