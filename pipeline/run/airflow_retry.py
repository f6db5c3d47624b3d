"""Airflow retries that can recover: a retried task resumes the ML Metadata execution its failed
attempt registered, and starts from an empty output folder; a task whose execution was already
published reuses that result.

TFX's legacy launcher (what AirflowDagRunner's tasks run) registers an execution under a
component-run context named after the DAG run. A retry finds that context, re-puts the execution
with the same input events, and ML Metadata refuses them (`AlreadyExistsError: Given event already
exists`), so every retry failed in under a second. TFX also reuses the attempt's output folder as
it is (its own TODO b/158689199), partial files included. A task killed after its execution was
published (complete in ML Metadata) but before Airflow recorded success would, on retry, run again
over its published output: a second push, a published folder emptied while readers use it. All three
are fixed here, in every task process (Airflow imports the DAG file, which calls install()).

The same driver names every output artifact `<output key>:<run id>`, which ML Metadata requires to
be unique per artifact type: in a window of spans, StatisticsGen_span1 and StatisticsGen of one DAG
run both made `statistics:<run id>`, and the second was refused (`AlreadyExistsError: Given node
already exists`), so a window never ran on Airflow. The name here starts with the component id.
And an output with one artifact per input (Transform's transformed examples in a window) leaves the
artifact the driver prepared unpublished beside the published ones, under the same output key: the
next component's input search returned it too, and the Trainer failed (`Split does not exist over
all example artifacts: train`). The search here returns the published (LIVE) artifacts.
"""

from __future__ import annotations

import logging
from typing import Any

_log = logging.getLogger(__name__)

# Marks TFX's functions once they are replaced, so install() is idempotent.
_INSTALLED = "_pipeline_retry_safe"


def install() -> None:
    """Make TFX's legacy driver retry-safe: resume the registered execution, clean its outputs."""
    from ml_metadata.proto import metadata_store_pb2
    from tfx.dsl.components.base import base_driver
    from tfx.orchestration import metadata

    if getattr(metadata.Metadata.register_execution, _INSTALLED, False):
        return
    original = metadata.Metadata.register_execution

    def register_execution(self: Any, pipeline_info: Any, component_info: Any, contexts: list,
                           exec_properties: dict | None = None,
                           input_artifacts: dict | None = None) -> Any:
        """TFX's registration, or on a retry the registered execution, back to NEW, with only
        the input events it lacks."""
        previous = self.get_component_run_context(component_info)
        if previous is None:
            return original(self, pipeline_info, component_info, contexts,
                            exec_properties, input_artifacts)
        return _resume(self, previous, pipeline_info, component_info, contexts,
                       exec_properties or {}, input_artifacts or {})

    prepare_outputs = base_driver.BaseDriver._prepare_output_artifacts

    def prepare_output_artifacts(self: Any, *args: Any, **kwargs: Any) -> Any:
        """TFX's output artifacts, named after their component (unique in a run), each taking the
        id of the one an earlier attempt of the same execution registered (same type, name and
        URI), which MLMD would refuse to create twice."""
        outputs = prepare_outputs(self, *args, **kwargs)
        component = kwargs.get("component_info")
        for artifact in (a for artifacts in outputs.values() for a in artifacts):
            if component is not None and artifact.name:
                artifact.name = f"{component.component_id}.{artifact.name}"
            earlier = self._metadata_handle.store.get_artifact_by_type_and_name(
                artifact.type_name, artifact.name)
            if earlier is not None and earlier.uri == artifact.uri:
                artifact.id = earlier.id
        return outputs

    search = metadata.Metadata.search_artifacts

    def search_artifacts(self: Any, artifact_name: str, pipeline_info: Any,
                         producer_component_id: str) -> list:
        """TFX's search for a producer's outputs, without a prepared artifact never published."""
        found = search(self, artifact_name, pipeline_info, producer_component_id)
        published = [a for a in found if a.mlmd_artifact.state == metadata_store_pb2.Artifact.LIVE]
        return published or found

    setattr(register_execution, _INSTALLED, True)
    metadata.Metadata.search_artifacts = search_artifacts  # type: ignore[method-assign]
    metadata.Metadata.register_execution = register_execution  # type: ignore[method-assign]
    base_driver.BaseDriver._prepare_output_artifacts = prepare_output_artifacts  # type: ignore[method-assign]
    base_driver._prepare_output_paths = _clean_output_path
    _install_reuse_of_published()


def _install_reuse_of_published() -> None:
    """Every legacy launcher (any driver: components, importers, resolvers) skips a task whose
    execution this DAG run already published, and hands on its published outputs."""
    from tfx.orchestration.launcher import base_component_launcher

    launcher_class = base_component_launcher.BaseComponentLauncher
    run_driver = launcher_class._run_driver

    def run_driver_once(self: Any, input_dict: dict, output_dict: dict,
                        exec_properties: dict) -> Any:
        """The published execution's decision (cached: no executor, no second publish), else TFX's."""
        with self._metadata_connection as handle:
            decision = _published_decision(handle, self._component_info, exec_properties)
        if decision is not None:
            return decision
        return run_driver(self, input_dict, output_dict, exec_properties)

    launcher_class._run_driver = run_driver_once  # type: ignore[method-assign]


def _published_decision(handle: Any, component_info: Any, exec_properties: dict) -> Any:
    """The execution an earlier attempt completed under this component-run context, as a cached
    decision over its recorded inputs and outputs; None when there is none."""
    from ml_metadata.proto import metadata_store_pb2
    from tfx.orchestration import data_types, metadata

    run_context = handle.get_component_run_context(component_info)
    if run_context is None:
        return None
    [earlier] = handle.store.get_executions_by_context(context_id=run_context.id)
    if earlier.properties["state"].string_value not in metadata.FINAL_EXECUTION_STATES:
        return None
    events = handle.store.get_events_by_execution_ids([earlier.id])
    _log.warning("retry of %s: its ML Metadata execution %d was already published; reusing it",
                 component_info.component_id, earlier.id)
    return data_types.ExecutionDecision(
        input_dict=_artifacts_of(handle, events, metadata_store_pb2.Event.INPUT),
        output_dict=_artifacts_of(handle, events, metadata_store_pb2.Event.OUTPUT),
        exec_properties=exec_properties, execution_id=earlier.id, use_cached_results=True)


def _artifacts_of(handle: Any, events: list, event_type: int) -> dict[str, list]:
    """The artifacts of one kind of event (inputs or outputs), by key, in their recorded order."""
    from tfx.types import artifact_utils

    chosen = sorted((e for e in events if e.type == event_type), key=lambda e: e.path.steps[1].index)
    artifacts = {a.id: a for a in handle.store.get_artifacts_by_id([e.artifact_id for e in chosen])}
    types = {t.id: t for t in handle.store.get_artifact_types_by_id(
        list({a.type_id for a in artifacts.values()}))}
    result: dict[str, list] = {}
    for event in chosen:
        artifact = artifacts[event.artifact_id]
        result.setdefault(event.path.steps[0].key, []).append(
            artifact_utils.deserialize_artifact(types[artifact.type_id], artifact))
    return result


def _resume(handle: Any, run_context: Any, pipeline_info: Any, component_info: Any,
            contexts: list, exec_properties: dict, input_artifacts: dict) -> Any:
    """The execution an earlier attempt registered under this component-run context, NEW again."""
    from tfx.orchestration import metadata

    [earlier] = handle.store.get_executions_by_context(context_id=run_context.id)
    execution = handle._prepare_execution(metadata.EXECUTION_STATE_NEW, exec_properties,
                                          pipeline_info, component_info)
    execution.id = earlier.id
    handle.update_execution(execution=execution, component_info=component_info,
                            input_artifacts=input_artifacts,
                            contexts=[*contexts, run_context])
    contexts.append(run_context)
    _log.warning("retry of %s: resuming ML Metadata execution %d of run %s",
                 component_info.component_id, execution.id, pipeline_info.run_id)
    return execution


def _clean_output_path(artifact: Any) -> None:
    """An output folder (or a value artifact's file) starts empty: what an attempt that died left
    there belongs to no published artifact (the path holds the execution id)."""
    import os

    from tfx import types
    from tfx.dsl.io import fileio

    if fileio.exists(artifact.uri):
        _log.warning("removing the partial output %s of an earlier attempt", artifact.uri)
        if fileio.isdir(artifact.uri):
            fileio.rmtree(artifact.uri)
        else:
            fileio.remove(artifact.uri)
    is_value = isinstance(artifact, types.ValueArtifact)
    fileio.makedirs(os.path.dirname(artifact.uri) if is_value else artifact.uri)
