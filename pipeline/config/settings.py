"""Typed, frozen pipeline configuration, parsed and validated once at the boundary."""

from __future__ import annotations

import dataclasses
import enum
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import InvalidInput

PROJECT_ROOT = Path(__file__).resolve().parents[2]


STATE_DIR = PROJECT_ROOT / "state"


ENV_PREFIX = "PIPELINE_"


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


def location(text: str) -> Location:
    """Parse a location, keeping URIs as text (Path would fold gs:// into gs:/)."""
    return text if is_uri(text) else Path(text)


@dataclass(frozen=True)
class PipelineConfig:
    """Everything a run needs; runners only resolve paths, metadata and Beam args from it."""

    pipeline_name: str = "taxi"
    model_name: str = "taxi"
    data_dir: Location = PROJECT_ROOT / "data" / "taxi"
    spans: SpanSelection = SpanSelection()
    schema_path: Path | None = PROJECT_ROOT / "data" / "schema" / "schema.pbtxt"
    pipeline_root: Location = STATE_DIR / "pipelines" / "taxi"
    metadata_path: Path = STATE_DIR / "metadata" / "taxi.sqlite"
    serving_dir: Path = STATE_DIR / "serving_model"
    log_dir: Path = STATE_DIR / "logs"
    train_steps: int = 1000
    eval_steps: int = 100
    train_hash_buckets: int = 3
    eval_hash_buckets: int = 1
    min_auc: float = 0.85
    batch_size: int = 256
    learning_rate: float = 0.003
    seed: int = 42
    beam_mode: BeamMode = BeamMode.AUTO
    workers: int = 0
    enable_cache: bool = True
    min_free_mb: int = 200
    max_row_bytes: int = 1 << 20
    extra_beam_args: tuple[str, ...] = field(default_factory=tuple)
    beam_runner: BeamRunner = BeamRunner.DIRECT
    metadata_backend: MetadataBackend = MetadataBackend.SQLITE
    metadata_host: str = "127.0.0.1"
    metadata_port: int = 0
    metadata_database: str = "mlmd"
    metadata_user: str = ""
    metadata_password: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        """Reject impossible values here, so no component ever sees them."""
        _require(self.pipeline_name.isidentifier(), "pipeline_name", "must be an identifier")
        _require(self.model_name.isidentifier(), "model_name", "must be an identifier")
        _require(self.train_steps > 0, "train_steps", f"must be > 0, got {self.train_steps}")
        _require(self.eval_steps > 0, "eval_steps", f"must be > 0, got {self.eval_steps}")
        _require(self.batch_size > 0, "batch_size", f"must be > 0, got {self.batch_size}")
        _require(self.learning_rate > 0, "learning_rate", f"must be > 0, got {self.learning_rate}")
        _require(0.0 <= self.min_auc <= 1.0, "min_auc", f"must be in [0, 1], got {self.min_auc}")
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
        if self.metadata_backend is MetadataBackend.SQLITE:
            return
        _require(bool(self.metadata_user), "metadata_user", "required for a metadata server")
        _require(bool(self.metadata_database), "metadata_database", "must not be empty")
        _require(
            0 <= self.metadata_port <= 65535,
            "metadata_port",
            f"must be in [0, 65535], got {self.metadata_port}",
        )

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
        """What the Trainer's run_fn receives (recorded in MLMD as custom_config)."""
        return {
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "seed": self.seed,
        }

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

    def replace(self, **changes: object) -> PipelineConfig:
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def beam_option_names(args: Sequence[str]) -> set[str]:
    """Names of the --options in Beam args, whether written --name=value or --name value."""
    return {a[2:].split("=", 1)[0] for a in args if a.startswith("--")}


def _require(condition: bool, field_name: str, message: str) -> None:
    """Raise a ConfigError naming the field when the condition fails."""
    if not condition:
        raise ConfigError(f"invalid config {field_name}: {message}")
