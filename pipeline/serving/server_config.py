"""TF Serving configuration from ML Metadata: models.config, batching, monitoring, rollback audit.

`serving-config` lists the versions the pusher recorded in MLMD (PushedModel artifacts with
pushed=1, blessed upstream, still on disk) and writes TF Serving's config files; `rollback`
moves the `stable` label to another known version and appends an audit record."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import PROJECT_ROOT, PipelineConfig, local_folder
from pipeline.errors import WorkFailed
from pipeline.metadata import connection, pushes
from pipeline.metadata.connection import Store
from pipeline.metadata.records import custom_property, pushed_version
from pipeline.serving import layout

DEFAULT_OUTPUT_DIR = PROJECT_ROOT / "serving"


MODELS_CONFIG = "models.config"


BATCHING_CONFIG = "batching.config"


MONITORING_CONFIG = "monitoring.config"


CONFIGMAP = "configmap.yaml"


AUDIT_LOG = "rollback_audit.jsonl"


PENDING_FILE = "release_pending.json"


CONFIG_LOCK = ".serving-config.lock"


STABLE, CANARY = "stable", "canary"


PROMETHEUS_PATH = "/monitoring/prometheus/metrics"


DEFAULT_KEEP = 3


class ServingConfigError(WorkFailed):
    """The config cannot be written as asked; the message says which version or file."""


@dataclass(frozen=True)
class BatchingSettings:
    """TF Serving's BatchingParameters; the last allowed size must equal max_batch_size."""

    max_batch_size: int = 32
    batch_timeout_micros: int = 2000
    max_enqueued_batches: int = 100
    num_batch_threads: int = 2
    allowed_batch_sizes: tuple[int, ...] = (4, 8, 16, 32)


@dataclass(frozen=True)
class ServingPlan:
    """Which versions the server loads and which version each label points to."""

    model_name: str
    base_path: str
    versions: tuple[int, ...]
    labels: dict[str, int]


def blessed_pushed_versions(store: Store, pipeline_name: str, base_path: Path) -> list[int]:
    """Versions the pipeline pushed to `base_path` (blessed model) that are still on disk."""
    on_disk = set(layout.list_versions(base_path))
    versions = set()
    for artifact in pushes.pushed_models(store, pipeline_name):
        version, destination = pushed_version(artifact), custom_property(artifact, "pushed_destination")
        if not version or not version.isdigit() or not destination:
            continue
        if Path(str(destination)).parent.resolve() != base_path.resolve():
            continue
        if int(version) in on_disk and pushes.was_blessed(store, artifact.id):
            versions.add(int(version))
    return sorted(versions)


def known_versions(config: PipelineConfig) -> tuple[list[int], list[int]]:
    """Every version of the configured model on disk that may be served: the pushed, blessed
    ones MLMD records, and those it does not record at all; and which of them are the latter."""
    store = connection.open_metadata(config)
    base = layout.model_base_path(
        local_folder("serving_dir", config.serving_dir, "serving-config"), config.model_name)
    unrecorded = layout.unrecorded_versions(base, pushes.recorded_versions(store, config.pipeline_name))
    blessed = blessed_pushed_versions(store, config.pipeline_name, base)
    return sorted(set(blessed) | set(unrecorded)), unrecorded


def plan_config(
    model_name: str,
    base_path: str,
    known: list[int],
    stable: int | None = None,
    canary: int | None = None,
    keep: int = DEFAULT_KEEP,
) -> ServingPlan:
    """Load the newest `keep` versions plus stable and canary; stable defaults to the newest."""
    if not known:
        raise ServingConfigError(f"no pushed, blessed version of model '{model_name}' on disk")
    stable = known[-1] if stable is None else stable
    for label, version in ((STABLE, stable), (CANARY, canary)):
        if version is not None and version not in known:
            raise ServingConfigError(_unknown(label, version, model_name, known))
    if canary is not None and canary == stable:
        raise ServingConfigError(f"canary version {canary} is already the stable version")
    labels = {STABLE: stable} if canary is None else {STABLE: stable, CANARY: canary}
    versions = set(known[-keep:]) | set(labels.values())
    return ServingPlan(model_name, base_path, tuple(sorted(versions)), labels)


def _unknown(label: str, version: int, model_name: str, known: list[int]) -> str:
    """Error text naming the version asked for and the ones that exist."""
    return (
        f"{label} version {version} is not a pushed, blessed version of model '{model_name}' "
        f"on disk (known: {', '.join(map(str, known)) or 'none'})"
    )


def rollback_plan(current: ServingPlan, to: int, known: list[int]) -> ServingPlan:
    """Move `stable` to a known version, loading it too; a canary on that version is dropped."""
    if to not in known:
        raise ServingConfigError(_unknown("rollback", to, current.model_name, known))
    labels = {k: v for k, v in current.labels.items() if k != CANARY or v != to}
    labels[STABLE] = to
    versions = tuple(sorted(set(current.versions) | {to}))
    return ServingPlan(current.model_name, current.base_path, versions, labels)


def model_server_config(plan: ServingPlan):
    """ModelServerConfig with one model: specific versions and version labels."""
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name = plan.model_name
    model.base_path = plan.base_path
    model.model_platform = "tensorflow"
    model.model_version_policy.specific.versions.extend(plan.versions)
    for label, version in sorted(plan.labels.items()):
        model.version_labels[label] = version
    return config


def models_config_text(plan: ServingPlan) -> str:
    """models.config as TF Serving's --model_config_file reads it."""
    from google.protobuf import text_format

    return text_format.MessageToString(model_server_config(plan))


def read_plan(path: Path, model_name: str) -> ServingPlan:
    """The served versions and labels of one model in an existing models.config."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    if not path.is_file():
        raise ServingConfigError(f"no {path}: run `python -m pipeline serving-config` first")
    try:
        config = text_format.Parse(path.read_text(encoding="utf-8"),
                                   model_server_config_pb2.ModelServerConfig())
    except (UnicodeDecodeError, text_format.ParseError) as error:
        raise ServingConfigError(
            f"{path} is not a TF Serving models.config ({error}); "
            "rewrite it with `python -m pipeline serving-config`") from error
    for model in config.model_config_list.config:
        if model.name == model_name:
            return ServingPlan(
                model.name, model.base_path,
                tuple(model.model_version_policy.specific.versions), dict(model.version_labels),
            )
    raise ServingConfigError(f"{path} has no model named '{model_name}'")


def batching_text(settings: BatchingSettings) -> str:
    """BatchingParameters text proto for --batching_parameters_file (wrapper-typed fields)."""
    lines = [
        f"max_batch_size {{ value: {settings.max_batch_size} }}",
        f"batch_timeout_micros {{ value: {settings.batch_timeout_micros} }}",
        f"max_enqueued_batches {{ value: {settings.max_enqueued_batches} }}",
        f"num_batch_threads {{ value: {settings.num_batch_threads} }}",
    ]
    lines += [f"allowed_batch_sizes: {size}" for size in settings.allowed_batch_sizes]
    return "\n".join(lines) + "\n"


def monitoring_text(path: str = PROMETHEUS_PATH) -> str:
    """MonitoringConfig text proto enabling Prometheus metrics on the REST port."""
    return f'prometheus_config {{\n  enable: true\n  path: "{path}"\n}}\n'


def configmap_yaml(model_name: str, files: dict[str, str]) -> str:
    """A Kubernetes ConfigMap holding the config files, mounted by deploy/k8s/deployment.yaml."""
    import yaml

    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{model_name.replace('_', '-')}-serving-config",
                     "labels": {"app": "tf-serving"}},
        "data": files,
    }
    return yaml.safe_dump(manifest, sort_keys=False)


@contextlib.contextmanager
def config_lock(output_dir: Path) -> Iterator[None]:
    """One serving-config or rollback at a time per config folder (waiting for the other), so one
    call's files, pending release and audit line are never mixed with another's; the kernel drops
    the flock of a killed call."""
    output_dir.mkdir(parents=True, exist_ok=True)
    handle = os.open(output_dir / CONFIG_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


def write_atomic(path: Path, text: str) -> None:
    """Write a temporary file of its own beside the target, then rename it over the target, so a
    polling server never reads half a file and two writers never share a temporary file."""
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(partial, 0o644)  # TF Serving reads it as another user (the manifests: 65534)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def write_config_files(
    plan: ServingPlan, output_dir: Path, batching: BatchingSettings
) -> list[Path]:
    """models.config, batching.config, monitoring.config and the ConfigMap embedding them."""
    output_dir.mkdir(parents=True, exist_ok=True)
    files = {
        MODELS_CONFIG: models_config_text(plan),
        BATCHING_CONFIG: batching_text(batching),
        MONITORING_CONFIG: monitoring_text(),
    }
    files[CONFIGMAP] = configmap_yaml(plan.model_name, dict(files))
    for name, text in files.items():
        write_atomic(output_dir / name, text)
    return [output_dir / name for name in files]


def audit_records(output_dir: Path) -> list[dict]:
    """Every rollback and release recorded beside the config, oldest first."""
    path = output_dir / AUDIT_LOG
    if not path.is_file():
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ServingConfigError(f"cannot read {path}: {error}") from error
    return [_audit_record(path, number, line)
            for number, line in enumerate(lines, start=1) if line.strip()]


def _audit_record(path: Path, number: int, line: str) -> dict:
    """One audit line as a record; a torn or edited line is an error naming file and line."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        record = None
    if not isinstance(record, dict) or "action" not in record:
        raise ServingConfigError(
            f"{path}:{number}: not an audit record ({line[:60]!r}); repair or delete that line "
            "(the rollback pin is read from the last record)")
    return record


def append_audit(output_dir: Path, record: dict) -> dict:
    """Add one JSON line (one write in append mode, so lines of two writers never interleave):
    when, which action, from which version to which, why."""
    entry = {"when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **record}
    line = (json.dumps(entry, sort_keys=True) + "\n").encode()
    handle = os.open(output_dir / AUDIT_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(handle, line)
        os.fsync(handle)
    finally:
        os.close(handle)
    return entry


def pinned_version(output_dir: Path, known: list[int]) -> int | None:
    """The version a still-effective rollback pinned `stable` to, if any."""
    records = audit_records(output_dir)
    if not records or records[-1].get("action") != "rollback":
        return None
    version = records[-1]["to"]
    return version if version in known else None
