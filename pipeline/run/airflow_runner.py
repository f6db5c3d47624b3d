"""Build the pipeline's Airflow DAG with TFX's AirflowDagRunner, plus its scheduling settings."""

from __future__ import annotations

import datetime as dt
import functools
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import PROJECT_ROOT, ConfigError, MetadataBackend, PipelineConfig
from pipeline.data import spans
from pipeline.metadata.connection import metadata_connection
from pipeline.run import manifest
from pipeline.services.airflow_alerts import DEFAULT_CONNECTION, notify_drift, notify_failure

SETTINGS_PREFIX = "PIPELINE_AIRFLOW_"
DEFAULT_START_DATE = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
NO_SCHEDULE = "none"


@dataclass(frozen=True)
class AirflowSettings:
    """How Airflow schedules the DAG; what the pipeline does stays in PipelineConfig."""

    schedule: str | None = "@daily"
    retries: int = 2
    # The first retry waits retry_delay, each next one twice as long, up to max_retry_delay.
    retry_delay: dt.timedelta = dt.timedelta(minutes=5)
    max_retry_delay: dt.timedelta = dt.timedelta(hours=1)
    start_date: dt.datetime = DEFAULT_START_DATE
    owner: str = "ml-platform"
    alert_connection: str = DEFAULT_CONNECTION
    # Root of each model's models.config (serving/canary.airflow_config_dir): the canary task
    # labels there; the monitoring and feedback DAGs read the same variable.
    serving_config_root: Path | None = None

    def __post_init__(self) -> None:
        """Reject values Airflow would only reject later, at parse or run time."""
        if self.retries < 0:
            raise ConfigError(f"invalid config airflow retries: must be >= 0, got {self.retries}")
        if self.retry_delay < dt.timedelta(0):
            raise ConfigError(f"invalid config airflow retry_delay: negative ({self.retry_delay})")
        if self.start_date.tzinfo is None:
            raise ConfigError("invalid config airflow start_date: needs a time zone")
        if self.max_retry_delay < self.retry_delay:
            raise ConfigError("invalid config airflow max_retry_delay: shorter than retry_delay")
        if not self.owner.strip() or not self.alert_connection.strip():
            raise ConfigError("invalid config airflow owner/alert_connection: must not be empty")


def _schedule(text: str) -> str | None:
    """A cron expression or preset such as '@daily'; 'none' means manual triggers only."""
    return None if text.strip().lower() == NO_SCHEDULE else text.strip()


def _start_date(text: str) -> dt.datetime:
    """ISO date or datetime; UTC when no zone is given."""
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


# Variable suffix -> (AirflowSettings field, parser of the text into that field's type).
_SETTING_PARSERS: dict[str, tuple[str, Callable[[str], object]]] = {
    "SCHEDULE": ("schedule", _schedule),
    "RETRIES": ("retries", int),
    "RETRY_DELAY_SECONDS": ("retry_delay", lambda text: dt.timedelta(seconds=float(text))),
    "MAX_RETRY_DELAY_SECONDS": (
        "max_retry_delay", lambda text: dt.timedelta(seconds=float(text))),
    "START_DATE": ("start_date", _start_date),
    "OWNER": ("owner", str),
    "ALERT_CONNECTION": ("alert_connection", str),
    "SERVING_CONFIG_ROOT": ("serving_config_root", lambda text: PROJECT_ROOT / text),
}


def settings_from_env(environ: Mapping[str, str]) -> AirflowSettings:
    """Parse PIPELINE_AIRFLOW_* variables once, naming the variable on bad or unknown input."""
    values: dict[str, Any] = {}  # each parsed to its field's type by _SETTING_PARSERS
    for key, text in environ.items():
        if not key.startswith(SETTINGS_PREFIX):
            continue
        suffix = key[len(SETTINGS_PREFIX):]
        if suffix not in _SETTING_PARSERS:
            known = ", ".join(SETTINGS_PREFIX + s for s in _SETTING_PARSERS)
            raise ConfigError(f"unknown setting {key}; known: {known}")
        name, parse = _SETTING_PARSERS[suffix]
        try:
            values[name] = parse(text)
        except ValueError as error:
            raise ConfigError(f"invalid config {key}: {text!r} ({error})") from error
    return AirflowSettings(**values)


def _create_metadata_folder(metadata_path: Path, context: object) -> None:
    """SQLite MLMD creates its file but not the folder: make it before a task opens the store."""
    metadata_path.parent.mkdir(parents=True, exist_ok=True)


def _sqlite_folder_callback(config: PipelineConfig) -> dict[str, object]:
    """A SQLite store's folder is made before each task; a server store needs nothing."""
    if config.metadata_backend is not MetadataBackend.SQLITE:
        return {}
    return {"on_execute_callback": functools.partial(_create_metadata_folder,
                                                     config.metadata_path)}


DOC_MD = """\
### {name}: the TFX pipeline of project `{project}`

Validates the input data ({data}) against the curated schema, trains the project's Keras model,
evaluates it against the thresholds of `models/{project}/project.yaml` and the last blessed model,
and pushes only a better model to TF Serving's folder ({serving}). One task per TFX component;
a task that fails on bad data (DataGate) is not retried.

**Lineage and runs**: every task records what it read and wrote in ML Metadata ({metadata}).
These commands read this DAG's store (not the local runner's default one):

- `python -m pipeline runs --project {project}{store}` lists the runs,
- `python -m pipeline lineage --project {project}{store}` shows where a pushed model came from,
- `python -m pipeline mlflow-sync --project {project}{store}` mirrors them into MLflow.
{password}
Failures are sent through the Airflow connection `{alerts}` (docs/airflow.md).
"""


def store_flags(config: PipelineConfig) -> str:
    """The flags that point a command at this config's ML Metadata store, as a command line ends."""
    if config.metadata_backend is MetadataBackend.SQLITE:
        flags = ["--metadata", str(config.metadata_path)]
    else:
        flags = ["--metadata-backend", config.metadata_backend.value,
                 "--metadata-host", config.metadata_host, "--metadata-port",
                 str(config.metadata_server_port), "--metadata-database", config.metadata_database,
                 "--metadata-user", config.metadata_user]
    if config.pipeline_name != config.project:
        flags += ["--pipeline-name", config.pipeline_name]
    return "".join(f" {shlex.quote(flag)}" for flag in flags)


def dag_documentation(config: PipelineConfig, settings: AirflowSettings) -> dict[str, str]:
    """The DAG's one-line description and its doc_md: what it does and where its lineage is."""
    doc = DOC_MD.format(
        name=config.pipeline_name, project=config.project, data=config.data_dir,
        serving=config.serving_dir, metadata=config.metadata_location,
        alerts=settings.alert_connection, store=store_flags(config),
        password="" if config.metadata_backend is MetadataBackend.SQLITE else (
            "(the password from `PIPELINE_METADATA_PASSWORD`, as for the DAG)\n"),
    )
    description = (f"TFX pipeline of project {config.project}: validate, train, evaluate and "
                   "push a better model")
    return {"description": description, "doc_md": doc}


# RecordRunContext's `context` parameter in the DAG: Airflow renders the PythonOperator's
# op_kwargs (TFX passes the exec properties there) when the task runs, calling this DAG macro.
RUN_CONTEXT_MACRO = "pipeline_run_context"
RUN_CONTEXT_TEMPLATE = "{{ " + RUN_CONTEXT_MACRO + "() }}"


def dag_arguments(
    config: PipelineConfig, settings: AirflowSettings, window: tuple[int, ...] = ()
) -> dict[str, object]:
    """Keyword arguments of airflow's DAG: schedule, no catch-up, one run at a time, retries,
    and the macro that computes the run context (for this span window) when RecordRunContext
    runs, not each time Airflow parses the DAG file."""
    return {
        "user_defined_macros": {
            RUN_CONTEXT_MACRO: functools.partial(manifest.compute_run_context_json, config, window),
        },
        "schedule": settings.schedule,
        "start_date": settings.start_date,
        "catchup": False,
        "max_active_runs": 1,
        "tags": ["tfx", config.project],
        **dag_documentation(config, settings),
        "default_args": {
            **_sqlite_folder_callback(config),
            "owner": settings.owner,
            "retries": settings.retries,
            "retry_delay": settings.retry_delay,
            "retry_exponential_backoff": True,
            "max_retry_delay": settings.max_retry_delay,
            "on_failure_callback": functools.partial(
                notify_failure, settings.alert_connection
            ),
        },
    }


def build_dag(config: PipelineConfig, settings: AirflowSettings):
    """One Airflow task per component, edges from the components' upstream nodes, same MLMD.

    Airflow parses the DAG file every few minutes and in every task's process: parsing lists the
    span folders and hashes models/*.py and the schema (the graph's cache keys) but reads no data
    file and runs no git. RecordRunContext's parameter is a template that computes the run's
    manifest (data fingerprint, git commit, lock hash, packages) once, when that task runs.
    """
    from tfx.orchestration.airflow.airflow_dag_runner import (
        AirflowDagRunner,
        AirflowPipelineConfig,
    )

    from pipeline.graph.data_gate import DataGate
    from pipeline.graph.pipeline_graph import create_pipeline
    from pipeline.run import airflow_retry

    airflow_retry.install()  # the task processes import this DAG: their retries can recover

    config = spans.with_beam_mode_for_input(config)
    if config.metadata_password:
        from airflow.utils.log.secrets_masker import mask_secret

        # Task processes log through Airflow's masker: the store's password never reaches a log.
        mask_secret(config.metadata_password.reveal())
    inputs = manifest.graph_inputs(config)
    pipeline = create_pipeline(
        config, inputs, metadata_connection(config), run_context=RUN_CONTEXT_TEMPLATE,
    )
    runner_config = AirflowPipelineConfig(
        airflow_dag_config=dag_arguments(config, settings, inputs.window)
    )
    dag = AirflowDagRunner(runner_config).run(pipeline)
    for component in pipeline.components:
        if isinstance(component, DataGate):
            # Anomalies in the data do not go away on retry: fail the run at once.
            gate = dag.get_task(component.id)
            gate.retries = 0
            gate.on_success_callback = functools.partial(
                notify_drift, settings.alert_connection, config)
    return dag
