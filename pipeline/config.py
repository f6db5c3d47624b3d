"""Typed, frozen pipeline configuration, parsed and validated once at the boundary."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = PROJECT_ROOT / "state"
ENV_PREFIX = "PIPELINE_"


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field."""


class BeamMode(str, enum.Enum):
    """How Beam's DirectRunner executes: one process, or one process per worker."""

    IN_MEMORY = "in_memory"
    MULTI_PROCESSING = "multi_processing"


@dataclass(frozen=True)
class PipelineConfig:
    """Everything a run needs; runners only resolve paths, metadata and Beam args from it."""

    pipeline_name: str = "taxi"
    model_name: str = "taxi"
    data_dir: Path = PROJECT_ROOT / "data" / "taxi"
    spans: str = "latest"
    schema_path: Path | None = PROJECT_ROOT / "data" / "schema" / "schema.pbtxt"
    pipeline_root: Path = STATE_DIR / "pipelines" / "taxi"
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
    beam_mode: BeamMode = BeamMode.IN_MEMORY
    workers: int = 0
    enable_cache: bool = True
    extra_beam_args: tuple[str, ...] = field(default_factory=tuple)

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
        _require(
            self.train_hash_buckets > 0 and self.eval_hash_buckets > 0,
            "split",
            "train and eval hash buckets must both be > 0",
        )
        _require(self.data_dir.is_dir(), "data_dir", f"{self.data_dir} is not a directory")
        _require(
            self.spans == "latest" or (self.spans.isdigit() and int(self.spans) > 0),
            "spans", f"must be 'latest' or a span number >= 1, got {self.spans!r}",
        )
        _require(
            self.schema_path is None or self.schema_path.is_file(),
            "schema_path",
            f"{self.schema_path} is not a file",
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
        """Beam pipeline args for the DirectRunner in the configured mode."""
        args = [f"--direct_running_mode={self.beam_mode.value}"]
        workers = self.workers or (os.cpu_count() or 1)
        if self.beam_mode is BeamMode.MULTI_PROCESSING:
            args.append(f"--direct_num_workers={workers}")
        return args + list(self.extra_beam_args)

    def replace(self, **changes: object) -> PipelineConfig:
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def _require(condition: bool, field_name: str, message: str) -> None:
    """Raise a ConfigError naming the field when the condition fails."""
    if not condition:
        raise ConfigError(f"invalid config {field_name}: {message}")


def _positive_int(text: str) -> int:
    """argparse type for counts, so bad values fail with the flag's name."""
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `python -m pipeline run`; defaults come from PIPELINE_* env vars, then the config."""
    defaults = PipelineConfig.__dataclass_fields__
    arg = parser.add_argument
    arg("--data", dest="data_dir", type=Path,
        help=f"folder of input CSV files (default {defaults['data_dir'].default})")
    arg("--spans", dest="spans",
        help="with span-N folders in the data dir: 'latest' (default) or one span number")
    arg("--schema", dest="schema_path",
        help="curated schema.pbtxt, or 'infer' to use SchemaGen's inferred schema")
    arg("--pipeline-root", dest="pipeline_root", type=Path,
        help="where TFX writes artifacts")
    arg("--metadata", dest="metadata_path", type=Path, help="ML Metadata SQLite file")
    arg("--serving-dir", dest="serving_dir", type=Path,
        help="TF Serving model base path; versions go to <dir>/<model-name>/<version>/")
    arg("--log-dir", dest="log_dir", type=Path, help="where the full TF/Beam log is written")
    arg("--pipeline-name", dest="pipeline_name", help="name of the pipeline in ML Metadata")
    arg("--model-name", dest="model_name", help="model name under the serving dir")
    arg("--train-steps", dest="train_steps", type=_positive_int, help="Trainer steps")
    arg("--eval-steps", dest="eval_steps", type=_positive_int, help="Trainer validation steps")
    arg("--min-auc", dest="min_auc", type=float, help="Evaluator's AUC lower bound for blessing")
    arg("--batch-size", dest="batch_size", type=_positive_int, help="training batch size")
    arg("--learning-rate", dest="learning_rate", type=float, help="Adam learning rate")
    arg("--seed", dest="seed", type=int, help="random seed for training")
    arg("--beam-mode", dest="beam_mode", choices=[m.value for m in BeamMode],
        help="DirectRunner mode: in_memory (one process) or multi_processing")
    arg("--workers", dest="workers", type=int,
        help="DirectRunner workers in multi_processing mode (0 = number of cores)")
    arg("--no-cache", dest="enable_cache", action="store_const", const=False,
        help="re-execute every component instead of reusing cached outputs")


_CONVERTERS = {
    "data_dir": Path, "pipeline_root": Path, "metadata_path": Path, "serving_dir": Path,
    "log_dir": Path, "train_steps": int, "eval_steps": int, "min_auc": float,
    "batch_size": int, "learning_rate": float, "seed": int, "workers": int,
    "beam_mode": BeamMode, "enable_cache": lambda v: str(v).lower() in ("1", "true", "yes"),
}


def config_from_values(values: Mapping[str, object]) -> PipelineConfig:
    """Build a config from flag or env values (strings allowed), naming the field on bad input."""
    kwargs: dict[str, object] = {}
    for name, raw in values.items():
        if raw is None:
            continue
        if name == "schema_path":
            kwargs[name] = None if str(raw) == "infer" else Path(str(raw))
            continue
        convert = _CONVERTERS.get(name, str)
        try:
            kwargs[name] = raw if isinstance(raw, Path | bool | BeamMode) else convert(raw)
        except ValueError as error:
            raise ConfigError(f"invalid config {name}: {raw!r} ({error})") from error
    return PipelineConfig(**kwargs)


def env_values(environ: Mapping[str, str]) -> dict[str, str]:
    """Config values set as PIPELINE_<FIELD> environment variables."""
    names = {f.name for f in dataclasses.fields(PipelineConfig)}
    return {
        key[len(ENV_PREFIX):].lower(): value
        for key, value in environ.items()
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX):].lower() in names
    }


def config_from_args(args: argparse.Namespace, environ: Mapping[str, str]) -> PipelineConfig:
    """Flags win over PIPELINE_* env vars, which win over the defaults."""
    values: dict[str, object] = dict(env_values(environ))
    values.update({k: v for k, v in vars(args).items() if k in _FIELD_NAMES and v is not None})
    return config_from_values(values)


_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(PipelineConfig))


def parse_run_args(argv: Sequence[str], environ: Mapping[str, str]) -> PipelineConfig:
    """Parse `run` flags into a validated config (used by tests and the CLI)."""
    parser = argparse.ArgumentParser(prog="python -m pipeline run")
    add_run_arguments(parser)
    return config_from_args(parser.parse_args(argv), environ)
