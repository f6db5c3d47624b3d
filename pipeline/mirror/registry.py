"""The model registry as a mirror of serving: a version per push, aliases where the labels point."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pipeline.metadata import artifact_files
from pipeline.metadata.pushes import VersionRecord

if TYPE_CHECKING:
    from mlflow import MlflowClient

# The tags carrying the TF Serving version number, the folder it was pushed to and the pushed
# SavedModel's content hash on each model version: a version is registered once per folder and
# content, whichever store recorded its push and however often a sync runs.
SERVING_VERSION_TAG = "serving_version"


DESTINATION_TAG = "pushed_destination"


FINGERPRINT_TAG = "model_fingerprint"


def registered_model(client: MlflowClient, name: str) -> None:
    """The registered model of a served model name, created on first sync."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="Mirrors TF Serving's versions of this model.")


def _versions(client: MlflowClient, name: str) -> list:
    """Every model version of the registered model, oldest first."""
    found = client.search_model_versions(f"name = '{name}'", max_results=10000)
    return sorted(found, key=lambda v: int(v.version))


def registry_versions(client: MlflowClient, name: str, base_path: str | None = None) -> dict[str, str]:
    """MLflow model version by TF Serving version, from the tags; with `base_path`, only versions
    pushed under it (the newest model version when a folder was pushed twice)."""
    known = {}
    for version in _versions(client, name):
        tags = version.tags
        destination = tags.get(DESTINATION_TAG)
        if SERVING_VERSION_TAG not in tags:
            continue
        if base_path is None or destination is None or (
                destination.rsplit("/", 1)[0] == artifact_files.source_uri(base_path)):
            known[tags[SERVING_VERSION_TAG]] = str(version.version)
    return known


def _identity(record: VersionRecord) -> tuple[str, str]:
    """What makes a pushed version one registry version: its folder and its content."""
    return artifact_files.source_uri(record.destination), record.fingerprint


def headline(client: MlflowClient, mlflow_run: str | None, metrics: Sequence[str]) -> dict[str, str]:
    """The run's values of the named metrics (the task's), as tags a model version shows."""
    if mlflow_run is None:
        return {}
    logged = client.get_run(mlflow_run).data.metrics
    return {name: f"{logged[name]:.4f}" for name in metrics if name in logged}


def add_versions(client: MlflowClient, name: str, pushed: list[VersionRecord],
                 runs: Mapping[str, str], metrics: Sequence[str] = ()) -> tuple[dict[str, str], list[str]]:
    """A model version per pushed folder and content not yet there, whose source is the pushed
    SavedModel, tagged and described with its run's values of `metrics` (the registry's list shows
    tags); versions registered before they carried those tags are adopted, not duplicated."""
    registered_model(client, name)
    by_identity: dict[tuple[str, str], str] = {}
    untagged: dict[str, str] = {}
    for version in _versions(client, name):
        tags = version.tags
        if DESTINATION_TAG in tags:
            by_identity[(tags[DESTINATION_TAG], tags.get(FINGERPRINT_TAG, ""))] = str(version.version)
        elif SERVING_VERSION_TAG in tags:
            untagged[tags[SERVING_VERSION_TAG]] = str(version.version)
    known, created = {}, []
    for record in pushed:
        identity = _identity(record)
        if identity not in by_identity and record.version in untagged:
            adopted = untagged.pop(record.version)
            client.set_model_version_tag(name, adopted, DESTINATION_TAG, identity[0])
            client.set_model_version_tag(name, adopted, FINGERPRINT_TAG, identity[1])
            by_identity[identity] = adopted
        if identity not in by_identity:
            by_identity[identity] = _create(client, name, record, runs, metrics)
            created.append(record.version)
        known[record.version] = by_identity[identity]
    return known, created


def _create(client: MlflowClient, name: str, record: VersionRecord, runs: Mapping[str, str],
            metrics: Sequence[str]) -> str:
    """Register one pushed version, its identifying tags and headline metrics in the same call."""
    values = headline(client, runs.get(record.run_id), metrics)
    shown = "  ".join(f"{metric} {value}" for metric, value in values.items())
    version = client.create_model_version(
        name, source=artifact_files.source_uri(record.destination), run_id=runs.get(record.run_id),
        tags={SERVING_VERSION_TAG: record.version, "pipeline.run_id": record.run_id,
              DESTINATION_TAG: artifact_files.source_uri(record.destination),
              FINGERPRINT_TAG: record.fingerprint, **values},
        description=f"TF Serving version {record.version}, pushed by run {record.run_id}"
                    + (f": {shown}" if shown else ""))
    return str(version.version)


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
