"""`mlflow-sync`: mirror a pipeline's runs and served versions from ML Metadata into MLflow."""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import PipelineConfig
from pipeline.logs import shown_path, verbose_output_to
from pipeline.metadata import (
    artifact_files,
    connection,
    lineage_graph,
    live_evaluations,
    pushes,
    records,
)
from pipeline.metadata.evaluation_results import slice_metrics
from pipeline.mirror import registry, run_view, runs
from pipeline.mirror.settings import MirrorError, MirrorSettings
from pipeline.mirror.tracking import open_client, store_failures
from pipeline.serving.server_config import read_plan

SYNC_LOG = "mlflow-sync.log"


# How long a sync waits for another one (a run's own sync, a DAG's, `mlflow-sync`) to finish.
LOCK_WAIT_S = 300.0


@contextlib.contextmanager
def one_writer(settings: MirrorSettings, wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
    """Hold the store's sync lock (an flock the kernel drops when its holder dies), waiting for
    another writer up to `wait_s`; a writer still there then is a MirrorError naming the lock."""
    settings.lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(settings.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise MirrorError(f"another sync to {settings.location} still holds "
                                      f"{settings.lock_path} after {wait_s:.0f} s") from None
                time.sleep(0.2)
        yield
    finally:
        os.close(handle)  # closing the descriptor releases the lock


@dataclass
class SyncReport:
    """What one sync did, for the console and tests."""

    store: str
    experiment: str = ""
    experiment_id: str = ""
    added: list[str] = field(default_factory=list)
    unchanged: int = 0
    versions_added: list[str] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    live_logged: int = 0
    seconds: float = 0.0

    def text(self) -> str:
        """One line for people."""
        aliases = ", ".join(f"{a} -> version {v}" for a, v in sorted(self.aliases.items())) or "none"
        return (f"mlflow      {len(self.added)} run(s) added, {self.unchanged} unchanged, "
                f"{len(self.versions_added)} model version(s) added; aliases {aliases}; "
                f"{shown_path(self.store)} in {self.seconds:.1f} s")


def serving_labels(models_config: Path, model_name: str, pushed: list[str]) -> dict[str, int]:
    """Where TF Serving's labels point: the models.config serving-config wrote, else `stable` on
    the newest pushed version (what serving-config writes by default)."""
    if models_config.is_file():
        return dict(read_plan(models_config, model_name).labels)
    return {"stable": int(pushed[-1])} if pushed else {}


def lineage_png(store: connection.Store, run_id: str) -> bytes | None:
    """The run's lineage graph drawn as a PNG (matplotlib, no TensorFlow)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pipeline.analysis import reports

    figure = reports.draw_lineage(lineage_graph.run_graph(store, run_id), f"run {run_id}")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return buffer.getvalue()


def slice_reader() -> run_view.SliceReader:
    """Per-slice metrics through TFMA, imported only for runs not mirrored yet that wrote metrics
    (TensorFlow reads remote URIs)."""
    def read(evaluation_uri: str) -> dict[str, dict[str, float]]:
        if not artifact_files.glob(evaluation_uri, "metrics*"):
            return {}
        return slice_metrics(evaluation_uri)
    return read


def sync(config: PipelineConfig, settings: MirrorSettings, models_config: Path,
         slices: run_view.SliceReader | None = None) -> SyncReport:
    """Add the runs and pushed versions MLflow does not show yet and move aliases to the labels;
    a second sync with nothing new writes nothing."""
    started = time.monotonic()
    report = SyncReport(settings.location, config.pipeline_name)
    # MLMD's, TensorFlow's and MLflow's own logging go to the log file, not between our lines.
    with verbose_output_to(config.log_dir / SYNC_LOG):
        store = connection.open_metadata(config)
        client = open_client(settings)
        with one_writer(settings), store_failures(settings):
            mlflow_runs = _sync_runs(client, store, config, settings, slices or slice_reader(),
                                     report)
            _sync_registry(client, store, config, models_config, mlflow_runs, report)
            report.live_logged = _sync_live(client, store, config, mlflow_runs)
    report.seconds = time.monotonic() - started
    return report


def _sync_runs(client, store: connection.Store, config: PipelineConfig, settings: MirrorSettings,
               slices: run_view.SliceReader, report: SyncReport) -> dict[str, str]:
    """Mirror each run not shown complete in its current state, after deleting what an
    interrupted sync left; the MLflow run id of every pipeline run."""
    experiment = runs.experiment_id(client, config.pipeline_name, settings.artifact_root)
    report.experiment_id = experiment
    existing = runs.mirrored_runs(client, experiment)
    for stale in existing.stale:
        client.delete_run(stale.info.run_id)
    identity = connection.store_identity(config, store)
    ids: dict[str, str] = {}
    for context in records.run_contexts(store, config.pipeline_name):
        key = str(context.id)
        found = existing.complete.get((identity, key))
        if found is not None and found.data.tags.get(runs.STATE_TAG) == _status(store, context.name):
            ids[context.name] = str(found.info.run_id)
            report.unchanged += 1
            continue
        if found is None:  # a run mirrored before keys named their store is replaced
            found = existing.unkeyed.get((key, context.name))
        run = run_view.mirror_run(store, config.declaration, context.name, key, slices)
        ids[context.name] = runs.write_run(client, experiment, run, found,
                                           lineage_png(store, context.name), identity)
        report.added.append(context.name)
    return ids


def _status(store: connection.Store, run_id: str) -> str:
    """The MLflow status of a run as MLMD has it now (cheap: no artifact is read)."""
    components = records.component_runs(store, run_id)
    record = records.RunRecord(run_id, components[0].started, components[0].finished,
                               {c.node_id: c.state for c in components})
    return run_view.MLFLOW_STATUS.get(record.status, "FAILED")


def _sync_registry(client, store: connection.Store, config: PipelineConfig, models_config: Path,
                   mlflow_runs: Mapping[str, str], report: SyncReport) -> None:
    """A model version per pushed version, aliases where TF Serving's labels point."""
    pushed = pushes.version_records(store, config.pipeline_name)
    if not pushed:
        return
    known, report.versions_added = registry.add_versions(
        client, config.model_name, pushed, mlflow_runs, [m.name for m in config.declaration.metrics])
    labels = serving_labels(models_config, config.model_name, [p.version for p in pushed])
    report.aliases = registry.set_aliases(client, config.model_name, labels, known)


# The prefix of a live metric on the MLflow run that pushed the version (eval metrics have none).
LIVE_METRIC_PREFIX = "live_"


def _sync_live(client, store: connection.Store, config: PipelineConfig,
               mlflow_runs: Mapping[str, str]) -> int:
    """Each version's live metrics as series on the MLflow run that pushed it (step = feedback
    batch), beside that run's eval metrics; steps already there are not logged again."""
    from mlflow.entities import Metric

    pushed_by = {p.version: p.run_id for p in pushes.version_records(store, config.pipeline_name)}
    logged = 0
    for live in live_evaluations.live_evaluations(store, config.pipeline_name):
        run = mlflow_runs.get(pushed_by.get(live.model_version, ""))
        if run is None:
            continue
        new = [Metric(f"{LIVE_METRIC_PREFIX}{name}", value, live.recorded_ms, live.step)
               for name, value in sorted(live.metrics.items())
               if live.step not in {m.step for m in client.get_metric_history(
                   run, f"{LIVE_METRIC_PREFIX}{name}")}]
        if new:
            client.log_batch(run, metrics=new)
            logged += len(new)
    return logged


def move_aliases(
    config: PipelineConfig, settings: MirrorSettings, labels: Mapping[str, int]
) -> dict[str, str]:
    """After a rollback: point the registry's aliases where the new labels point (versions pushed
    to this config's serving folder only)."""
    client = open_client(settings)
    base_path = os.path.join(str(config.serving_dir), config.model_name)
    with one_writer(settings), store_failures(settings):
        known = registry.registry_versions(client, config.model_name, base_path)
        return registry.set_aliases(client, config.model_name, labels, known)
