"""Typed, frozen pipeline configuration, parsed and validated once at the boundary."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config.project import TASK_METRICS, Project, Task, Threshold, load_project
from pipeline.config.secrets import Secret, secret
from pipeline.errors import InvalidInput

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MODELS_DIR = PROJECT_ROOT / "models"
ENV_PREFIX = "PIPELINE_"
STATE_DIR_ENV = f"{ENV_PREFIX}STATE_DIR"


def state_dir(environ: Mapping[str, str]) -> Path:
    """Where every command keeps what it makes by default (artifacts, metadata, served versions, logs,
    Airflow's home): the checkout's state/, or $PIPELINE_STATE_DIR for a second, separate tree (a test
    session's own, so no test ever reads or writes the checkout's state)."""
    chosen = environ.get(STATE_DIR_ENV, "")
    return Path(chosen).resolve() if chosen else PROJECT_ROOT / "state"


# The process's environment is this module's boundary: read once, when the config is first imported.
STATE_DIR = state_dir(os.environ)
# Fields left at this value are filled from the project's declaration (no real path has a NUL).
FROM_PROJECT = Path("\0from-project")
# tracking_uri value that turns the MLflow mirror off ("" means the local store under state/).
TRACKING_OFF = "off"
# --min-auc is the alias of --threshold <this>=X: the binary task's primary metric.
MIN_AUC_METRIC = TASK_METRICS[Task.BINARY][0].name
_DEFAULT_PROJECT = re.compile(r'^default-project\s*=\s*"([A-Za-z_][A-Za-z0-9_]*)"', re.M)


def default_project(root: Path = PROJECT_ROOT) -> str:
    """The project commands use without --project: `[tool.pipeline] default-project` in pyproject.toml."""
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    section = text.split("[tool.pipeline]", 1)
    found = _DEFAULT_PROJECT.search(section[1]) if len(section) == 2 else None
    if found is None:
        raise InvalidInput(f"{root / 'pyproject.toml'}: [tool.pipeline] default-project is not set; "
                           "pass --project NAME")
    return found.group(1)


class ConfigError(InvalidInput):
    """A configuration value is invalid; the message names the field."""


class BeamMode(str, enum.Enum):
    """How Beam's DirectRunner executes: one process, one process per worker, or chosen by size."""

    IN_MEMORY = "in_memory"
    MULTI_PROCESSING = "multi_processing"
    AUTO = "auto"


# Inputs from this size on run the DirectRunner with a worker per core. Below it, starting the
# workers (each imports TensorFlow, ~20 s per Beam component) costs more than they save; measured
# on 2 cores: Evaluator on 100k rows (~50 MB of CSV upstream) took 110 s with 2 workers against
# 150 s in one process (docs/performance.md).
MULTI_PROCESSING_MIN_BYTES = 48 << 20


class BeamRunner(str, enum.Enum):
    """Where the Beam-based components process data: this machine or a cluster service."""

    DIRECT = "DirectRunner"
    DATAFLOW = "DataflowRunner"
    FLINK = "FlinkRunner"
    SPARK = "SparkRunner"
    PORTABLE = "PortableRunner"


# Options a runner cannot start without; every other option is passed through extra_beam_args.
REQUIRED_BEAM_OPTIONS: dict[BeamRunner, tuple[str, ...]] = {
    BeamRunner.DATAFLOW: ("project", "region", "temp_location"),
    BeamRunner.PORTABLE: ("job_endpoint",),
}


class MetadataBackend(str, enum.Enum):
    """Where ML Metadata lives: a local SQLite file or a database server a cluster shares."""

    SQLITE = "sqlite"
    MYSQL = "mysql"
    POSTGRESQL = "postgresql"


DEFAULT_METADATA_PORTS = {MetadataBackend.MYSQL: 3306, MetadataBackend.POSTGRESQL: 5432}


@dataclass(frozen=True)
class SpanSelection:
    """Which span-N folders a run reads: the `newest` newest ones, or every span first..last."""

    newest: int | None = 1
    first: int | None = None
    last: int | None = None

    def __str__(self) -> str:
        """The text that parses back to this selection (recorded in MLMD, passed to Airflow)."""
        if self.newest is not None:
            return LATEST_SPAN if self.newest == 1 else f"{ROLLING_PREFIX}{self.newest}"
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


LATEST_SPAN = "latest"


ROLLING_PREFIX = "last-"


SPANS_SYNTAX = "'latest', a span number N, a range A-B (A < B) or a rolling window last-K"


def parse_spans(text: str) -> SpanSelection:
    """'latest', 'N', 'A-B' or 'last-K' -> SpanSelection; ValueError naming the syntax otherwise."""
    if text == LATEST_SPAN:
        return SpanSelection()
    if text.startswith(ROLLING_PREFIX) and text[len(ROLLING_PREFIX):].isdigit():
        count = int(text[len(ROLLING_PREFIX):])
        if count >= 1:
            return SpanSelection(newest=count)
    bounds = text.split("-")
    if all(b.isdigit() for b in bounds) and len(bounds) in (1, 2):
        first, last = int(bounds[0]), int(bounds[-1])
        if first >= 1 and (len(bounds) == 1 or first < last):
            return SpanSelection(newest=None, first=first, last=last)
    raise ValueError(f"expected {SPANS_SYNTAX}, got {text!r}")


# A location is a local Path or, for data and artifacts on a cluster, a URI such as gs://bucket/dir.
Location = Path | str


def is_uri(location: Location) -> bool:
    """True for scheme://... locations, which only the cluster can check."""
    return "://" in str(location)


def local_folder(field_name: str, value: Location, reader: str) -> Path:
    """A location as a local folder for what reads or writes it on this machine; a URI (only a
    cluster reaches it) is a ConfigError naming the field and who needed it local."""
    if is_uri(value):
        raise ConfigError(
            f"invalid config {field_name}: {value} is a URI; {reader} needs a local folder")
    return Path(value)


# File systems TFX's fileio reaches through TensorFlow; any other scheme is a typo or a mistake.
URI_SCHEMES = ("gs", "s3", "hdfs", "ram")


class BadLocation(ValueError, argparse.ArgumentTypeError):
    """A path flag or variable holds a URL it cannot be; argparse shows the message as is."""


def location(text: str) -> Location:
    """Parse a location, keeping URIs of a supported file system as text (Path would fold gs://
    into gs:/); any other scheme is refused."""
    if not is_uri(text):
        return Path(text)
    scheme = text.split("://", 1)[0].lower()
    if scheme not in URI_SCHEMES:
        supported = ", ".join(f"{s}://" for s in URI_SCHEMES)
        raise BadLocation(f"unsupported URL scheme '{scheme}://' in {text!r}: use a local path "
                          f"or {supported}")
    return text


def local_path(text: str) -> Path:
    """A local file or folder; a URL would silently become a relative folder named 'scheme:'."""
    if is_uri(text):
        raise BadLocation(f"expected a local path, got the URL {text!r}")
    return Path(text)


@dataclass(frozen=True)
class PipelineConfig:
    """Everything a run needs; runners only resolve paths, metadata and Beam args from it."""

    project: str = ""
    models_dir: Path = MODELS_DIR
    pipeline_name: str = ""
    model_name: str = ""
    data_dir: Location = FROM_PROJECT
    spans: SpanSelection = SpanSelection()
    schema_path: Path | None = FROM_PROJECT
    pipeline_root: Location = FROM_PROJECT
    metadata_path: Path = FROM_PROJECT
    serving_dir: Location = STATE_DIR / "serving_model"
    log_dir: Path = STATE_DIR / "logs"
    train_steps: int = 0
    eval_steps: int = 0
    train_hash_buckets: int = 3
    eval_hash_buckets: int = 1
    thresholds: tuple[tuple[str, float], ...] = ()
    min_auc: float | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    seed: int | None = None
    beam_mode: BeamMode = BeamMode.AUTO
    workers: int = 0
    enable_cache: bool = True
    transform_statistics: bool = False
    transform_tf2: bool = False
    eval_plots: bool = False
    analyzer_cache: bool = False
    min_free_mb: int = 200
    max_row_bytes: int = 1 << 20
    extra_beam_args: tuple[str, ...] = field(default_factory=tuple)
    beam_runner: BeamRunner = BeamRunner.DIRECT
    metadata_backend: MetadataBackend = MetadataBackend.SQLITE
    metadata_host: str = "127.0.0.1"
    metadata_port: int = 0
    metadata_database: str = "mlmd"
    metadata_user: str = ""
    metadata_password: Secret = field(default_factory=Secret, repr=False)
    tracking_uri: str = ""
    mirror_wait: bool = False
    declaration: Project = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Fill what the project declares, then reject impossible values, so no component sees them."""
        self._resolve_project()
        object.__setattr__(self, "metadata_password", secret(self.metadata_password))
        _require(self.pipeline_name.isidentifier(), "pipeline_name", "must be an identifier")
        _require(self.model_name.isidentifier(), "model_name", "must be an identifier")
        _require(self.train_steps > 0, "train_steps", f"must be > 0, got {self.train_steps}")
        _require(self.eval_steps > 0, "eval_steps", f"must be > 0, got {self.eval_steps}")
        _require(self.batch_size is None or self.batch_size > 0, "batch_size",
                 f"must be > 0, got {self.batch_size}")
        _require(self.learning_rate is None or self.learning_rate > 0, "learning_rate",
                 f"must be > 0, got {self.learning_rate}")
        _require(self.seed is None or 0 <= self.seed < 2**31, "seed",
                 f"must be in [0, 2**31), got {self.seed}")
        self._check_thresholds()
        _require(self.workers >= 0, "workers", f"must be >= 0, got {self.workers}")
        _require(self.min_free_mb >= 0, "min_free_mb", f"must be >= 0, got {self.min_free_mb}")
        _require(self.max_row_bytes > 0, "max_row_bytes", f"must be > 0, got {self.max_row_bytes}")
        _require(
            self.train_hash_buckets > 0 and self.eval_hash_buckets > 0,
            "split",
            "train and eval hash buckets must both be > 0",
        )
        _require(
            is_uri(self.data_dir) or Path(self.data_dir).is_dir(),
            "data_dir",
            f"{self.data_dir} is not a directory",
        )
        _require(
            isinstance(self.spans, SpanSelection), "spans",
            f"must be a SpanSelection (parse_spans: {SPANS_SYNTAX}), got {self.spans!r}",
        )
        _require(
            self.schema_path is None or self.schema_path.is_file(),
            "schema_path",
            f"{self.schema_path} is not a file",
        )
        self._check_beam()
        self._check_metadata()
        _require(self.tracking_uri in ("", TRACKING_OFF) or "://" in self.tracking_uri
                 or self.tracking_uri.startswith("file:"), "tracking_uri",
                 f"expected '{TRACKING_OFF}', a URI such as http://host:5000 or "
                 f"sqlite:///path/mlflow.db, or empty for the local store; got {self.tracking_uri!r}")

    def _resolve_project(self) -> None:
        """Every field left to the project gets the declaration's value or one derived from its name."""
        name = self.project or default_project(self.models_dir.parent)
        _require(name.isidentifier(), "project", f"must be an identifier, got {name!r}")
        declared = load_project(name, self.models_dir)
        root = self.models_dir.parent
        derived: dict[str, object] = {
            "project": name,
            "declaration": declared,
            "pipeline_name": self.pipeline_name or name,
            "model_name": self.model_name or name,
            "train_steps": self.train_steps or declared.train_steps,
            "eval_steps": self.eval_steps or declared.eval_steps,
        }
        if self.data_dir == FROM_PROJECT:
            derived["data_dir"] = declared.data if is_uri(declared.data) else root / declared.data
        if self.schema_path == FROM_PROJECT:
            derived["schema_path"] = root / declared.schema if declared.schema else None
        if self.pipeline_root == FROM_PROJECT:
            derived["pipeline_root"] = STATE_DIR / "pipelines" / name
        if self.metadata_path == FROM_PROJECT:
            derived["metadata_path"] = STATE_DIR / "metadata" / f"{name}.sqlite"
        for key, value in derived.items():
            object.__setattr__(self, key, value)

    def _check_thresholds(self) -> None:
        """--threshold and --min-auc name metrics of this project's task, with sensible values."""
        known = [m.name for m in self.declaration.metrics]
        for metric, _ in self.thresholds:
            _require(metric in known, "thresholds",
                     f"no metric '{metric}' for the {self.declaration.task.value} project "
                     f"'{self.project}' (known: {', '.join(known)})")
        if self.min_auc is not None:
            _require(MIN_AUC_METRIC in known, "min_auc",
                     f"--min-auc applies to binary projects; use --threshold METRIC=VALUE with one of "
                     f"{', '.join(known)}")
            _require(0.0 <= self.min_auc <= 1.0, "min_auc", f"must be in [0, 1], got {self.min_auc}")

    @property
    def blessing_thresholds(self) -> tuple[Threshold, ...]:
        """The declaration's thresholds, overridden by --threshold and --min-auc for this run."""
        chosen = {t.metric: t for t in self.declaration.thresholds}
        alias = [(MIN_AUC_METRIC, self.min_auc)] if self.min_auc is not None else []
        overrides = list(self.thresholds) + alias
        for metric, value in overrides:
            if self.declaration.metric(metric).higher_is_better:
                chosen[metric] = Threshold(metric, lower=value)
            else:
                chosen[metric] = Threshold(metric, upper=value)
        return tuple(chosen.values())

    def _check_beam(self) -> None:
        """The runner is chosen by beam_runner alone, with the options it cannot start without."""
        options = beam_option_names(self.extra_beam_args)
        _require("runner" not in options, "extra_beam_args", "set the runner with beam_runner")
        missing = [o for o in REQUIRED_BEAM_OPTIONS.get(self.beam_runner, ()) if o not in options]
        _require(
            not missing,
            "extra_beam_args",
            f"{self.beam_runner.value} needs " + ", ".join(f"--{o}" for o in missing),
        )
        _require(
            self.beam_runner is BeamRunner.DIRECT
            or (self.beam_mode in (BeamMode.IN_MEMORY, BeamMode.AUTO) and self.workers == 0),
            "beam_mode",
            f"beam_mode and workers configure the DirectRunner, not {self.beam_runner.value}",
        )

    def _check_metadata(self) -> None:
        """A database server needs a user and a database name; SQLite needs neither."""
        _require(
            0 <= self.metadata_port <= 65535,
            "metadata_port",
            f"must be in [0, 65535], got {self.metadata_port}",
        )
        if self.metadata_backend is MetadataBackend.SQLITE:
            return
        _require(bool(self.metadata_user), "metadata_user", "required for a metadata server")
        _require(bool(self.metadata_database), "metadata_database", "must not be empty")

    @property
    def metadata_server_port(self) -> int:
        """The configured port, or the backend's standard one when 0."""
        return self.metadata_port or DEFAULT_METADATA_PORTS.get(self.metadata_backend, 0)

    @property
    def metadata_location(self) -> str:
        """Where the metadata is, for people: the SQLite file or a URL without the password."""
        if self.metadata_backend is MetadataBackend.SQLITE:
            return str(self.metadata_path)
        return (
            f"{self.metadata_backend.value}://{self.metadata_user}@{self.metadata_host}"
            f":{self.metadata_server_port}/{self.metadata_database}"
        )

    @property
    def hyperparameters(self) -> dict[str, object]:
        """What the Trainer's run_fn receives (recorded in MLMD as custom_config): the declared
        hyperparameters with this run's --batch-size, --learning-rate and --seed on top."""
        overrides = {"batch_size": self.batch_size, "learning_rate": self.learning_rate,
                     "seed": self.seed}
        return {**self.declaration.hyperparameters,
                **{k: v for k, v in overrides.items() if v is not None}}

    @property
    def beam_args(self) -> list[str]:
        """Beam pipeline args every Beam-based component receives: runner, mode, extra options."""
        if self.beam_runner is not BeamRunner.DIRECT:
            return [f"--runner={self.beam_runner.value}", *self.extra_beam_args]
        mode = BeamMode.IN_MEMORY if self.beam_mode is BeamMode.AUTO else self.beam_mode
        args = [f"--direct_running_mode={mode.value}"]
        workers = self.workers or (os.cpu_count() or 1)
        if mode is BeamMode.MULTI_PROCESSING:
            args.append(f"--direct_num_workers={workers}")
        return args + list(self.extra_beam_args)

    def for_input_size(self, input_bytes: int) -> PipelineConfig:
        """The config with an `auto` Beam mode decided by how many bytes the run reads."""
        if self.beam_mode is not BeamMode.AUTO:
            return self
        parallel = (self.beam_runner is BeamRunner.DIRECT and (os.cpu_count() or 1) > 1
                    and input_bytes >= MULTI_PROCESSING_MIN_BYTES)
        return self.replace(
            beam_mode=BeamMode.MULTI_PROCESSING if parallel else BeamMode.IN_MEMORY)

    def beam_mode_reason(self, input_bytes: int) -> str:
        """Why the DirectRunner runs as it does, for the console's beam line ('' off it)."""
        if self.beam_runner is not BeamRunner.DIRECT:
            return ""
        if self.beam_mode is not BeamMode.AUTO:
            return "(chosen by --beam-mode)"
        if (os.cpu_count() or 1) < 2:
            return "(auto: one core)"
        above = input_bytes >= MULTI_PROCESSING_MIN_BYTES
        return (f"(auto: {input_bytes / 2**20:.0f} MB of input CSV, "
                f"{'at least' if above else 'under'} {MULTI_PROCESSING_MIN_BYTES >> 20} MB)")

    def replace(self, **changes: Any) -> PipelineConfig:
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def beam_option_names(args: Sequence[str]) -> set[str]:
    """Names of the --options in Beam args, whether written --name=value or --name value."""
    return {a[2:].split("=", 1)[0] for a in args if a.startswith("--")}


def _require(condition: bool, field_name: str, message: str) -> None:
    """Raise a ConfigError naming the field when the condition fails."""
    if not condition:
        raise ConfigError(f"invalid config {field_name}: {message}")
