"""Which pushed version a scoring uses: `--version`, or the version a label points at in the
project's models.config (`stable` by default), by the rule `serving-config` writes them with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.config import PipelineConfig, local_folder
from pipeline.errors import WorkFailed
from pipeline.metadata import connection, pushes
from pipeline.metadata.connection import Artifact
from pipeline.serving import layout
from pipeline.serving.server_config import (
    MODELS_CONFIG,
    STABLE,
    known_versions,
    plan_config,
    read_plan,
)


class ModelChoiceError(WorkFailed):
    """The version or label asked for does not name a pushed, blessed version on disk."""


@dataclass(frozen=True)
class ChosenModel:
    """A pushed version to score with: its folder, the label that chose it, its PushedModel."""

    name: str
    version: int
    label: str | None
    path: Path
    pushed_model: Artifact


def version_labels(config_dir: Path, model_name: str, base_path: str, known: list[int]) -> dict[str, int]:
    """The labels models.config gives (serving-config's output), else those serving-config would
    write now: `stable` on the newest known version."""
    path = config_dir / MODELS_CONFIG
    if path.is_file():
        return read_plan(path, model_name).labels
    return plan_config(model_name, base_path, known).labels


def resolve_version(known: list[int], labels: dict[str, int], version: int | None,
                    label: str | None, model_name: str) -> tuple[int, str | None]:
    """The version asked for by number, or by label (`stable` when neither is given)."""
    if version is not None:
        if version not in known:
            raise ModelChoiceError(
                f"version {version} is not a pushed, blessed version of model '{model_name}' on "
                f"disk (known: {', '.join(map(str, known)) or 'none'})")
        return version, None
    label = label or STABLE
    if label not in labels:
        named = ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "none"
        raise ModelChoiceError(f"no label '{label}' for model '{model_name}' (labels: {named})")
    return labels[label], label


def choose_model(config: PipelineConfig, config_dir: Path, version: int | None,
                 label: str | None) -> ChosenModel:
    """The pushed version to score with and its PushedModel artifact in ML Metadata."""
    base = layout.model_base_path(
        local_folder("serving_dir", config.serving_dir, "score"), config.model_name)
    known, _ = known_versions(config)
    if not known:
        raise ModelChoiceError(f"no pushed, blessed version of model '{config.model_name}' on disk "
                               f"in {base}: run the pipeline first")
    labels = version_labels(config_dir, config.model_name, str(base), known)
    chosen, used_label = resolve_version(known, labels, version, label, config.model_name)
    store = connection.open_metadata(config)
    pushed = pushes.pushed_model(store, config.pipeline_name, str(chosen))
    return ChosenModel(config.model_name, chosen, used_label, base / str(chosen), pushed)
