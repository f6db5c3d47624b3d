"""Skip a run whose inputs are exactly those of the last complete run: TFX's cache would only
replay it, after ~40 s of importing TensorFlow and compiling the graph to find that out."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import PipelineConfig, is_uri, local_folder
from pipeline.metadata import connection, records
from pipeline.serving import layout
from pipeline.vocabulary import PUSHED_MODEL_KEY, PUSHER, RECORD_RUN_CONTEXT

DONE_STATES = frozenset({"COMPLETE", "CACHED"})


@dataclass(frozen=True)
class Verdict:
    """Whether the last run can stand for this one, and the first reason it cannot."""

    run_id: str | None
    reason: str

    @property
    def unchanged(self) -> bool:
        """True when re-running would reproduce the last run from cache."""
        return self.run_id is not None




def check(store: connection.Store, config: PipelineConfig, context_text: str) -> Verdict:
    """Compare the latest run with what this run would be: same context, complete, outputs kept."""
    runs = records.run_contexts(store, config.pipeline_name)
    if not runs:
        return Verdict(None, "no earlier run")
    run_id = runs[-1].name
    components = {c.node_id: c for c in records.component_runs(store, run_id)}
    unfinished = sorted(n for n, c in components.items() if c.state not in DONE_STATES)
    for failed, reason in (
        (bool(unfinished), f"run {run_id} did not complete ({', '.join(unfinished)})"),
        (PUSHER not in components, f"run {run_id} stopped before {PUSHER}"),
        (RECORD_RUN_CONTEXT not in components, f"run {run_id} recorded no run context"),
    ):
        if failed:
            return Verdict(None, reason)
    recorded = records.property_value(components[RECORD_RUN_CONTEXT].execution, "context")
    changed = changed_fields(str(recorded), context_text)
    if changed:
        return Verdict(None, "changed since run " + run_id + ": " + ", ".join(changed))
    missing = missing_outputs(components.values()) or unserved_model(
        components[PUSHER], layout.model_base_path(
            local_folder("serving_dir", config.serving_dir, "a local run"), config.model_name))
    if missing:
        return Verdict(None, f"output of run {run_id} no longer exists: {missing}")
    return Verdict(run_id, "same data, schema, code, config, lock file and packages")


# Lineage, not inputs: a commit of another project's files (or of docs) changes HEAD, not what
# this project's run reads, which the content fingerprints already cover.
LINEAGE_ONLY = frozenset({"git_commit", "git_dirty"})


def changed_fields(recorded: str, current: str) -> list[str]:
    """Names of the run-context fields that differ (config fields by their own names), the git
    fields left out (LINEAGE_ONLY)."""
    try:
        before = json.loads(recorded)
    except ValueError:
        return ["run context (unreadable)"]
    after = json.loads(current)
    names = sorted(set(before) | set(after))
    changed = [n for n in names if n != "config" and n not in LINEAGE_ONLY
               and before.get(n) != after.get(n)]
    old_config, new_config = _flat(before.get("config", {})), _flat(after.get("config", {}))
    changed += [f"config.{n}" for n in sorted(set(old_config) | set(new_config))
                if old_config.get(n) != new_config.get(n)]
    return changed


def _flat(values: object, prefix: str = "") -> dict[str, object]:
    """Nested config values as dotted names (`declaration.thresholds`), so a change names its field."""
    if not isinstance(values, dict):
        return {}
    flat: dict[str, object] = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def missing_outputs(components: Iterable[records.ComponentRun]) -> str | None:
    """The first output artifact (local or under a URI) deleted since it was written."""
    for component in components:
        for artifacts in component.outputs.values():
            for artifact in artifacts:
                if artifact.uri and not output_exists(artifact.uri):
                    return f"{component.node_id} {artifact.uri}"
    return None


def output_exists(uri: str) -> bool:
    """Whether an artifact's folder is still there. A URI is asked through TFX's fileio, imported
    only then: a local root answers without TensorFlow. A file system that cannot answer counts as
    missing, so the run goes ahead and names the problem itself."""
    if not is_uri(uri):
        return Path(uri).exists()
    from tfx.dsl.io import fileio

    try:
        return bool(fileio.exists(uri))
    except Exception:  # any file system error: the run re-checks and reports it
        return False


def unserved_model(pusher: records.ComponentRun, base_path: Path) -> str | None:
    """The blessed model the run served, if it is no longer among the served versions."""
    for pushed in pusher.outputs.get(PUSHED_MODEL_KEY, []):
        fingerprint = records.property_value(pushed, "model_fingerprint")
        if fingerprint and layout.version_with_fingerprint(base_path, str(fingerprint)) is None:
            return f"served model {str(fingerprint)[:12]} under {base_path}"
    return None
