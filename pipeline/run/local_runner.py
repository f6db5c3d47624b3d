"""Run the pipeline here with LocalDagRunner; metadata store and Beam runner come from config."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ml_metadata import metadata_store

from pipeline import environment
from pipeline.config import Location, MetadataBackend, PipelineConfig, local_folder
from pipeline.config.record import config_record
from pipeline.config.secrets import mask_beam_args
from pipeline.data import preflight, spans
from pipeline.errors import WorkFailed
from pipeline.logs import masked_log_records, native_errors_to, shown_path, verbose_output_to
from pipeline.metadata import connection, records, summary
from pipeline.metadata.connection import metadata_connection, probe_server
from pipeline.metadata.summary import RunSummary
from pipeline.run import consistency, manifest, run_reason, up_to_date
from pipeline.run.beam_introspection import answer_once_per_object
from pipeline.run.beam_staging import skip_tfx_package_for_local_beam
from pipeline.run.console import ProgressReporter, format_summary
from pipeline.run.run_lock import run_lock
from pipeline.vocabulary import REASON_BY_HAND, SCHEMA_FILE, SCHEMA_GEN, SCHEMA_KEY, RunManifest


class PipelineRunError(WorkFailed):
    """The run stopped; the message names the failing component and the cause."""


@dataclass(frozen=True)
class LocalRunResult:
    """What a local run produced, for the CLI and the tests."""

    summary: RunSummary
    seconds: float
    log_path: Path | None
    reused: bool = False


# ML Metadata's own lines while the store is opened to check it owns the run's folders.
STORE_CHECK_LOG = "store-check.log"


def log_path_for(config: PipelineConfig) -> Path:
    """A fresh log file per run, named by its start time."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return config.log_dir / f"{config.pipeline_name}-{stamp}.log"


def written_folders(config: PipelineConfig) -> dict[str, Location]:
    """Every folder a run writes to, by config field name (a URI pipeline root stays a URI:
    the components write it through fileio, the storage check skips it)."""
    return {
        "pipeline_root": config.pipeline_root,
        "metadata_path": config.metadata_path.parent,
        "serving_dir": local_folder("serving_dir", config.serving_dir, "a local run"),
        "log_dir": config.log_dir,
    }


def run_pipeline(
    config: PipelineConfig, to_node: str | None = None, reuse_unchanged: bool = False,
    start_over: bool = False, reason: str = REASON_BY_HAND,
) -> LocalRunResult:
    """Check storage, take the run lock, check the input files and that the metadata store
    matches the artifacts and served versions, then run the components.

    With reuse_unchanged, a run whose inputs equal the last complete run's returns that run;
    with start_over, a store that lost earlier executions is used anyway, this run writing under
    a new folder of the pipeline root (consistency.check). The run records `reason` (why it
    happened) on its run context, whether it completes or fails. A URI data_dir is a SpanError (exit 2):
    the span window, fingerprints and input checks list local files.
    Raises MetadataUnreachable, PreflightError or StoreMismatch (nothing ran), RunLockedError
    (another run holds the pipeline) or PipelineRunError naming the component that failed.
    """
    started = time.monotonic()
    data_dir = spans.local_data_dir(config)
    probe_server(config)
    preflight.check_storage(written_folders(config), config.min_free_mb)
    beam_reason = spans.beam_mode_reason(config)
    config = spans.with_beam_mode_for_input(config)
    with run_lock(config.pipeline_root, config.metadata_path):
        # What the run reads is computed once: the up-to-date check and the graph share it.
        computed: RunManifest | None = None
        if reuse_unchanged and to_node is None and config.enable_cache:
            computed = manifest.compute(config)
            reused = _unchanged_run(config, computed, started)
            if reused is not None:
                return reused
        window = computed.window if computed else spans.resolve_spans(data_dir, config.spans)
        reports = []
        for folder in spans.input_folders(data_dir, window):
            data = preflight.check_data_dir(folder, config.schema_path, config.max_row_bytes,
                                           config.declaration)
            reports.append(data)
            print(f"pre-flight  {data.rows} rows in {data.files} file(s) of {shown_path(folder)} "
                  f"checked in {time.monotonic() - started:.1f} s", flush=True)
        preflight.check_window(data_dir, reports, config.declaration)
        print(f"beam        {' '.join(mask_beam_args(config.beam_args))} {beam_reason}".rstrip(),
              flush=True)
        with native_errors_to(config.log_dir / STORE_CHECK_LOG):
            config = consistency.check(config, start_over)
        fixed_size_batches()
        return _run_components(config, computed or manifest.compute(config, window), to_node,
                               started, reason)


def fixed_size_batches() -> None:
    """Make TFXIO sources (Transform's analysis, the Evaluator) batch rows by a byte target.

    By default they hand batching to Beam's BatchElements, which sizes batches by how long the
    previous ones took: batch boundaries, and so the order in which float sums are merged, then
    change from run to run. That moved TFMA's calibration by 1.5e-9 between identical runs (and
    Transform's float32 z-scores before its analyzers summed in float64). tfx_bsl's byte-size
    batching depends on the data only. An absl flag: read in this process, where LocalDagRunner
    runs the in-memory DirectRunner's components.
    """
    from absl import flags
    from tfx_bsl.coders import batch_util  # noqa: F401  (defines the flag)

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()
    flags.FLAGS.tfxio_use_byte_size_batching = True


def _unchanged_run(
    config: PipelineConfig, run_manifest: RunManifest, started: float
) -> LocalRunResult | None:
    """The last run's result when it read exactly these inputs; checked without importing TFX."""
    if config.metadata_backend is MetadataBackend.SQLITE and (
            not config.metadata_path.is_file() or config.metadata_path.stat().st_size == 0):
        return None  # no store yet (an empty one next to artifacts: consistency.check says so)
    store = connection.open_metadata(config)
    verdict = up_to_date.check(store, config, run_manifest.run_context_json(config_record(config)))
    # verdict.unchanged: the last run (verdict.run_id) can stand for this one.
    recorded = summary.recorded(store, verdict.run_id) if verdict.run_id is not None else None
    if recorded is None:
        print(f"re-run      {verdict.reason}", flush=True)
        return None
    print(f"up to date  run {verdict.run_id}: {verdict.reason}; nothing to re-run "
          "(--force runs every component)", flush=True)
    return LocalRunResult(recorded, time.monotonic() - started, None, reused=True)


@contextlib.contextmanager
def _argv_without_flags() -> Iterator[None]:
    """Hide the host process's flags: TFX's Beam executors parse sys.argv as absl flags, so
    `pytest -v -rP` (or any caller's -v) became `--verbosity=-rP` and failed CsvExampleGen."""
    saved = sys.argv
    sys.argv = saved[:1]
    try:
        yield
    finally:
        sys.argv = saved


def _run_components(
    config: PipelineConfig, run_manifest: RunManifest, to_node: str | None, started: float,
    reason: str = REASON_BY_HAND,
) -> LocalRunResult:
    """LocalDagRunner over the pipeline built from the run's manifest, one line per component."""
    log_path = log_path_for(config)
    with verbose_output_to(log_path) as console, masked_log_records():
        # TensorFlow and TFX print import-time warnings: import them only once output is redirected.
        # Never `tfx.v1`: it imports every component and extension (Vertex AI's client, ~13 s CPU).
        environment.skip_package_init()
        from absl import logging as absl_logging
        from tfx.orchestration.local.local_dag_runner import LocalDagRunner
        from tfx.orchestration.pipeline import RunOptions

        from pipeline.graph.pipeline_graph import create_pipeline

        absl_logging.set_verbosity(absl_logging.INFO)
        skip_tfx_package_for_local_beam()
        answer_once_per_object()
        pipeline = create_pipeline(config, run_manifest, metadata_connection(config))
        run_options = RunOptions(to_nodes=[to_node]) if to_node else None
        progress = ProgressReporter(console=console, total=len(pipeline.components))
        logging.getLogger().addHandler(progress)
        launched_ms = int(time.time() * 1000)
        try:
            with _argv_without_flags():
                LocalDagRunner().run(pipeline, run_options=run_options)
        except Exception as error:
            progress.fail_current()
            failed = progress.components[-1].node_id if progress.components else "pipeline"
            logging.exception("run failed in %s", failed)
            raise PipelineRunError(f"{failed} failed: {error}\nfull log: {log_path}") from error
        finally:
            logging.getLogger().removeHandler(progress)
            _record_reason(config, launched_ms, reason)
        seconds = time.monotonic() - started
        store = connection.open_metadata(config, read_only=False)
        run_summary = summary.summarize(store, records.latest_run_id(store, config.pipeline_name))
        _record_summary(store, run_summary)
    return LocalRunResult(run_summary, seconds, log_path)


def _record_reason(config: PipelineConfig, launched_ms: int, reason: str) -> None:
    """Record why it ran on the run context LocalDagRunner made (none when no component started)."""
    store = connection.open_metadata(config, read_only=False)
    for run in records.run_contexts(store, config.pipeline_name):
        if run.create_time_since_epoch >= launched_ms:
            run_reason.record_reason(store, run.name, reason)


def _record_summary(store: metadata_store.MetadataStore, run_summary: RunSummary) -> None:
    """Keep the evaluation on the run's MLMD context for readers without TFMA."""
    run = records.run_context_of(store, run_summary.run_id)
    if run is None:
        raise records.LineageError(f"no run '{run_summary.run_id}' in the metadata store to record on")
    evaluation = {"metrics": run_summary.metrics, "blessed": run_summary.blessed,
                  "blessing_reason": run_summary.blessing_reason}
    run.custom_properties[summary.RECORDED_SUMMARY].string_value = json.dumps(evaluation, sort_keys=True)
    store.put_contexts([run])


def report(result: LocalRunResult, config: PipelineConfig) -> str:
    """Final console block: wall time plus the run summary."""
    return f"finished in {result.seconds:.1f} s\n" + format_summary(
        result.summary, config.declaration, config.metadata_location, result.log_path
    )


def infer_schema(config: PipelineConfig, output: Path) -> Path:
    """Run the pipeline up to SchemaGen (upstream comes from cache) and copy its schema for review."""
    from tfx.dsl.io import fileio

    result = run_pipeline(config.replace(schema_path=None), to_node=SCHEMA_GEN)
    schema_gen = result.summary.component(SCHEMA_GEN)
    if schema_gen is None or not schema_gen.outputs.get(SCHEMA_KEY):
        raise PipelineRunError(f"{SCHEMA_GEN} produced no schema")
    output.parent.mkdir(parents=True, exist_ok=True)
    fileio.copy(os.path.join(schema_gen.outputs[SCHEMA_KEY][0].uri, SCHEMA_FILE), str(output),
                overwrite=True)
    return output
