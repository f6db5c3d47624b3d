"""The config as a run records it in ML Metadata (JSON-friendly, no secret), and back."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.config.secrets import mask_beam_args, without_credentials
from pipeline.config.settings import PipelineConfig, SpanSelection, location, parse_spans

# Never recorded in MLMD: a server password comes from the environment of each run (and the
# values of credential Beam options are masked, config_record).
SECRET_FIELDS = frozenset({"metadata_password"})
# Not part of what a run is: where and when it is mirrored changes no output, so it must not make
# an unchanged re-run look changed (nor be replayed by reproduce).
UNRECORDED_FIELDS = SECRET_FIELDS | {"tracking_uri", "mirror_wait"}


# Where the declaration was read from is not what it declares.
UNDECLARED_FIELDS = frozenset({"directory"})


def _plain(value: object) -> object:
    """A declaration value as JSON: enums by value, paths as strings, tuples as lists."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def declaration_record(config: PipelineConfig) -> dict[str, object]:
    """What the project declared for this run (features, label, task, thresholds, slices, steps,
    ...), so two runs' declarations can be compared field by field."""
    declared = dataclasses.asdict(config.declaration)
    return {name: _plain(value) for name, value in declared.items()
            if name not in UNDECLARED_FIELDS}


def config_record(config: PipelineConfig) -> dict[str, object]:
    """The config as JSON-friendly values (paths as strings), enough to rebuild it, and the
    declaration it ran with; no secrets: no password, credential Beam options masked."""
    record: dict[str, object] = {"declaration": declaration_record(config)}
    for field in dataclasses.fields(config):
        if field.name in UNRECORDED_FIELDS or not field.init:
            continue
        value = getattr(config, field.name)
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, SpanSelection):
            value = str(value)
        elif field.name == "extra_beam_args":
            value = mask_beam_args(value)
        elif isinstance(value, tuple):
            value = list(value)
        record[field.name] = value
    return record


def config_from_record(record: Mapping[str, Any]) -> PipelineConfig:
    """Inverse of config_record: typed values back from JSON."""
    defaults = {f.name: f.default for f in dataclasses.fields(PipelineConfig) if f.init}
    values: dict[str, Any] = {}
    for name, value in record.items():
        if name not in defaults or name in UNRECORDED_FIELDS:
            continue
        default = defaults[name]
        if name == "schema_path":
            value = Path(value) if value is not None else None
        elif isinstance(default, Path):
            value = location(value)
        elif isinstance(default, enum.Enum):
            value = type(default)(value)
        elif isinstance(default, SpanSelection):
            value = parse_spans(value)
        elif name == "extra_beam_args":
            value = tuple(without_credentials(value))
        elif name == "thresholds":
            value = tuple((str(m), float(v)) for m, v in value)
        values[name] = value
    return PipelineConfig(**values)
