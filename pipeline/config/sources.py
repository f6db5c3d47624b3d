"""Config sources: command-line flags and PIPELINE_* environment variables, parsed once."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline.config.secrets import Secret
from pipeline.config.settings import (
    ENV_PREFIX,
    BeamMode,
    BeamRunner,
    ConfigError,
    MetadataBackend,
    PipelineConfig,
    local_path,
    location,
    parse_spans,
)


def _positive_int(text: str) -> int:
    """argparse type for counts, so bad values fail with the flag's name."""
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `python -m pipeline run`; defaults come from PIPELINE_* env vars, then the config."""
    arg = parser.add_argument
    arg("--project", dest="project",
        help="project under models/ (its project.yaml); default: pyproject's default-project")
    # Where projects live, as init's --models-dir (default $PIPELINE_MODELS_DIR, else the repo's models/).
    arg("--models-dir", dest="models_dir", type=Path, help=argparse.SUPPRESS)
    arg("--data", dest="data_dir", type=location,
        help="folder of input CSV files (default: the project's declared data)")
    arg("--spans", dest="spans",
        help="with span-N folders in the data dir: 'latest' (default), one span number N, "
             "a range A-B (every span in it) or last-K (the K newest spans)")
    arg("--schema", dest="schema_path",
        help="curated schema.pbtxt, or 'infer' to use SchemaGen's inferred schema")
    arg("--pipeline-root", dest="pipeline_root", type=location,
        help="where TFX writes artifacts (a folder or a URI such as gs://bucket/root)")
    arg("--metadata", dest="metadata_path", type=local_path, help="ML Metadata SQLite file")
    arg("--serving-dir", dest="serving_dir", type=location,
        help="TF Serving model base path (a folder or a URI); versions go to "
             "<dir>/<model-name>/<version>/")
    arg("--log-dir", dest="log_dir", type=local_path, help="where the full TF/Beam log is written")
    arg("--pipeline-name", dest="pipeline_name", help="name of the pipeline in ML Metadata")
    arg("--model-name", dest="model_name", help="model name under the serving dir")
    arg("--train-steps", dest="train_steps", type=_positive_int, help="Trainer steps")
    arg("--eval-steps", dest="eval_steps", type=_positive_int, help="Trainer validation steps")
    arg("--threshold", dest="thresholds", action="append", type=threshold_pair, metavar="METRIC=VALUE",
        help="blessing bound for this run, overriding the declaration's (a lower bound for metrics "
             "where higher is better, an upper bound otherwise); repeatable")
    arg("--min-auc", dest="min_auc", type=float, help="binary projects: same as --threshold auc=X")
    arg("--batch-size", dest="batch_size", type=_positive_int, help="training batch size")
    arg("--learning-rate", dest="learning_rate", type=float, help="Adam learning rate")
    arg("--seed", dest="seed", type=int, help="random seed for training")
    arg("--beam-mode", dest="beam_mode", choices=[m.value for m in BeamMode],
        help="DirectRunner mode: in_memory (one process), multi_processing (a worker per core) "
             "or auto (default: multi_processing from 48 MB of input CSV on)")
    arg("--workers", dest="workers", type=int,
        help="DirectRunner workers in multi_processing mode (0 = number of cores)")
    arg("--min-free-mb", dest="min_free_mb", type=int,
        help="refuse to start when a folder the run writes to has less free space (MB)")
    arg("--max-row-bytes", dest="max_row_bytes", type=_positive_int,
        help="pre-flight rejects input CSV records longer than this")
    arg("--no-cache", dest="enable_cache", action="store_const", const=False,
        help="re-execute every component instead of reusing cached outputs")
    arg("--transform-statistics", dest="transform_statistics", action="store_const", const=True,
        help="also compute Transform's pre- and post-transform statistics, schema and anomalies "
             "(off by default: nothing here reads them; docs/performance.md has their cost)")
    arg("--transform-tf2", dest="transform_tf2", action="store_const", const=True,
        help="trace preprocessing_fn as TF2 tf.functions, as tf.Transform does by default "
             "(off: the TF1 graph, same outputs, about 10 s less per Transform; "
             "docs/performance.md)")
    arg("--eval-plots", dest="eval_plots", action="store_const", const=True,
        help="also compute TFMA's plots (binary: calibration plot; multiclass: confusion matrix) "
             "per slice (off by default: nothing here reads them; docs/performance.md has their cost)")
    arg("--analyzer-cache", dest="analyzer_cache", action="store_const", const=True,
        help="in a window of several spans, feed Transform the analyzer cache of earlier runs "
             "(off by default: Transform then re-runs on every run of the window, "
             "docs/continuous_training.md has the measured trade-off)")
    arg("--tracking-uri", dest="tracking_uri",
        help="MLflow store the run is mirrored into at its end: a URI (http://host:5000, "
             "sqlite:///file.db), 'off', or empty for the local store under state/mlflow")
    arg("--wait-for-mirror", dest="mirror_wait", action="store_const", const=True,
        help="mirror the run into MLflow before exiting (default: a detached `mlflow-sync` "
             "process does it after the summary; scripts that read MLflow right away wait)")
    _add_scaling_arguments(parser)


def _add_scaling_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags that move Beam and ML Metadata off this machine (docs/scaling.md has examples)."""
    arg = parser.add_argument
    arg("--beam-runner", dest="beam_runner", choices=[r.value for r in BeamRunner],
        help="Beam runner of the data-processing components (default DirectRunner)")
    arg("--beam-args", dest="extra_beam_args",
        help='more Beam options as one string: --beam-args="--project=p --region=r"')
    add_metadata_server_arguments(parser)


def add_metadata_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags selecting a metadata server instead of the SQLite file (defaults: PIPELINE_* env)."""
    arg = parser.add_argument
    arg("--metadata-backend", dest="metadata_backend", choices=[b.value for b in MetadataBackend],
        help="ML Metadata store: sqlite (the --metadata file) or a mysql/postgresql server")
    arg("--metadata-host", dest="metadata_host", help="metadata server host")
    arg("--metadata-port", dest="metadata_port", type=int,
        help="metadata server port (0 = 3306 for mysql, 5432 for postgresql)")
    arg("--metadata-database", dest="metadata_database", help="metadata database name")
    arg("--metadata-user", dest="metadata_user",
        help="metadata server user; the password comes only from PIPELINE_METADATA_PASSWORD")


def threshold_pair(text: str) -> tuple[str, float]:
    """METRIC=VALUE, e.g. auc=0.9 or rmse=3.5."""
    metric, sep, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not sep or not metric.strip() or number != number:
        raise argparse.ArgumentTypeError(f"expected METRIC=VALUE such as auc=0.9, got {text!r}")
    return metric.strip(), number


def _thresholds(value: str | Iterable[tuple[str, float]]) -> tuple[tuple[str, float], ...]:
    """Thresholds from flags (a list of pairs) or PIPELINE_THRESHOLDS ('auc=0.9,accuracy=0.8')."""
    if isinstance(value, str):
        return tuple(threshold_pair(part) for part in value.split(",") if part.strip())
    return tuple((str(m), float(v)) for m, v in value)


def _counted(value: int) -> int:
    """A step count set explicitly must be > 0 (leaving it unset takes the declaration's)."""
    if value <= 0:
        raise ValueError(f"must be > 0, got {value}")
    return value


def _boolean(text: str) -> bool:
    """Strict yes/no, so a typo in PIPELINE_ENABLE_CACHE is an error, not a silent False."""
    lowered = text.lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise ValueError("expected one of 1/true/yes or 0/false/no")


# Fields whose text may hold a credential: an error about them never repeats the value.
SECRET_BEARING = frozenset({"metadata_password", "extra_beam_args"})


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "data_dir": location, "pipeline_root": location, "metadata_path": local_path,
    "serving_dir": location, "log_dir": local_path,
    "train_steps": lambda v: _counted(int(v)), "eval_steps": lambda v: _counted(int(v)),
    "min_auc": float,
    "batch_size": int, "learning_rate": float, "seed": int, "workers": int,
    "train_hash_buckets": int, "eval_hash_buckets": int,
    "beam_mode": BeamMode, "enable_cache": _boolean,
    "transform_statistics": _boolean, "transform_tf2": _boolean, "eval_plots": _boolean,
    "analyzer_cache": _boolean, "mirror_wait": _boolean,
    "beam_runner": BeamRunner, "extra_beam_args": lambda v: tuple(shlex.split(v)),
    "metadata_password": Secret,
    "metadata_backend": MetadataBackend, "metadata_port": int,
    "min_free_mb": int, "max_row_bytes": int, "spans": parse_spans, "models_dir": Path,
}


def config_from_values(values: Mapping[str, object]) -> PipelineConfig:
    """Build a config from flag or env values (strings allowed), naming the field on bad input."""
    kwargs: dict[str, Any] = {}
    for name, raw in values.items():
        if raw is None:
            continue
        if name == "schema_path":
            kwargs[name] = None if str(raw) == "infer" else Path(str(raw))
            continue
        if name == "thresholds":
            try:
                kwargs[name] = _thresholds(raw)  # type: ignore[arg-type]  # validated here
            except (argparse.ArgumentTypeError, TypeError, ValueError) as error:
                raise ConfigError(f"invalid config thresholds: {raw!r} ({error})") from error
            continue
        convert = _CONVERTERS.get(name, str)
        try:
            kwargs[name] = convert(raw) if isinstance(raw, str) else raw
        except ValueError as error:
            shown = "(value not shown: it may hold a credential)" if name in SECRET_BEARING \
                else repr(raw)
            raise ConfigError(f"invalid config {name}: {shown} ({error})") from error
    return PipelineConfig(**kwargs)


def env_values(environ: Mapping[str, str]) -> dict[str, str]:
    """Config values set as PIPELINE_<FIELD> environment variables."""
    names = {f.name for f in dataclasses.fields(PipelineConfig) if f.init}
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


# What a reader of ML Metadata needs: which store, and which pipeline in it.
STORE_FIELDS = frozenset({"project", "models_dir", "pipeline_name", "metadata_path"} | {
    f.name for f in dataclasses.fields(PipelineConfig) if f.name.startswith("metadata_")})


def store_config(
    environ: Mapping[str, str], values: Mapping[str, object] | argparse.Namespace | None = None,
    extra: Iterable[str] = (),
) -> PipelineConfig:
    """The store and pipeline a reader opens: flags (values) win over PIPELINE_* env vars, which
    win over the defaults. Other fields (but the `extra` ones asked for) keep their defaults, so a
    reader never trips over a PIPELINE_DATA_DIR (or other run setting) it does not use."""
    fields = STORE_FIELDS | set(extra)
    flags = vars(values) if isinstance(values, argparse.Namespace) else dict(values or {})
    merged: dict[str, object] = {k: v for k, v in env_values(environ).items() if k in fields}
    merged.update({k: v for k, v in flags.items() if k in fields and v is not None})
    return config_from_values(merged)

