"""The model registry as a mirror of serving: a version per push, aliases where the labels point."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pipeline.metadata import artifact_files
from pipeline.metadata.pushes import VersionRecord

if TYPE_CHECKING:
    from mlflow import MlflowClient

# The tag carrying the TF Serving version number on each model version.
SERVING_VERSION_TAG = "serving_version"


def registered_model(client: MlflowClient, name: str) -> None:
    """The registered model of a served model name, created on first sync."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="Mirrors TF Serving's versions of this model.")


def registry_versions(client: MlflowClient, name: str) -> dict[str, str]:
    """MLflow model version by TF Serving version, from the serving_version tags."""
    found = client.search_model_versions(f"name = '{name}'", max_results=10000)
    return {v.tags[SERVING_VERSION_TAG]: str(v.version) for v in found
            if SERVING_VERSION_TAG in v.tags}


def headline(client: MlflowClient, mlflow_run: str | None, metrics: Sequence[str]) -> dict[str, str]:
    """The run's values of the named metrics (the task's), as tags a model version shows."""
    if mlflow_run is None:
        return {}
    logged = client.get_run(mlflow_run).data.metrics
    return {name: f"{logged[name]:.4f}" for name in metrics if name in logged}


def add_versions(client: MlflowClient, name: str, pushed: list[VersionRecord],
                 runs: Mapping[str, str], metrics: Sequence[str] = ()) -> tuple[dict[str, str], list[str]]:
    """A model version per pushed version not yet there, whose source is the pushed SavedModel,
    tagged and described with its run's values of `metrics` (the registry's list shows tags)."""
    registered_model(client, name)
    known = registry_versions(client, name)
    created = []
    for record in pushed:
        if record.version in known:
            continue
        values = headline(client, runs.get(record.run_id), metrics)
        shown = "  ".join(f"{metric} {value}" for metric, value in values.items())
        version = client.create_model_version(
            name, source=artifact_files.source_uri(record.destination), run_id=runs.get(record.run_id),
            tags={SERVING_VERSION_TAG: record.version, "pipeline.run_id": record.run_id, **values},
            description=f"TF Serving version {record.version}, pushed by run {record.run_id}"
                        + (f": {shown}" if shown else ""))
        known[record.version] = str(version.version)
        created.append(record.version)
    return known, created


def set_aliases(client: MlflowClient, name: str, labels: Mapping[str, int],
                known: Mapping[str, str]) -> dict[str, str]:
    """Point each alias at the model version of the TF Serving version its label points to;
    aliases whose label is gone are removed. Only changes are written."""
    from mlflow.exceptions import MlflowException

    try:
        current = dict(client.get_registered_model(name).aliases)
    except MlflowException:
        return {}
    wanted = {label: known[str(v)] for label, v in labels.items() if str(v) in known}
    for alias, version in wanted.items():
        if current.get(alias) != version:
            client.set_registered_model_alias(name, alias, version)
    for alias in set(current) - set(wanted):
        client.delete_registered_model_alias(name, alias)
    return wanted
