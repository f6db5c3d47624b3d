"""Champion and challenger labels: a newly pushed version becomes `canary` while `stable` stays,
and `promote` moves `stable` to the canary; both through release.move_labels, the one label mover.

A project's first version has nothing to challenge, so it serves as `stable` directly (the rule
serving-config writes without a models.config)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipeline.config import STATE_DIR, PipelineConfig, local_folder
from pipeline.config.project import PromotionMode
from pipeline.errors import WorkFailed
from pipeline.serving import layout
from pipeline.serving.release import DEFAULT_TIMEOUT, move_labels
from pipeline.serving.server_config import (
    CANARY,
    MODELS_CONFIG,
    STABLE,
    ServingPlan,
    known_versions,
    plan_config,
    read_plan,
)

# Where the loop's Airflow DAGs (the pipeline DAG's canary task, the monitoring DAG, the feedback
# DAG's promote) share each model's models.config, <root>/<model>/, unless
# PIPELINE_AIRFLOW_SERVING_CONFIG_ROOT names another root: under the state dir, so the production
# Airflow's labels (its own state dir) are not the local runs'.
AIRFLOW_CONFIG_ROOT = STATE_DIR / "serving_config"
AIRFLOW_CONFIG_ROOT_VARIABLE = "PIPELINE_AIRFLOW_SERVING_CONFIG_ROOT"


def airflow_config_dir(root: Path | None, model_name: str) -> Path:
    """The folder of a model's models.config that the Airflow DAGs share."""
    return (root or AIRFLOW_CONFIG_ROOT) / model_name


class NoCanary(WorkFailed):
    """`promote` was asked for while no version is labelled canary."""


def current_plan(config_dir: Path, model_name: str) -> ServingPlan | None:
    """The labels models.config gives now, or None before serving-config or a canary wrote it."""
    path = config_dir / MODELS_CONFIG
    return read_plan(path, model_name) if path.is_file() else None


def label_as_canary(config: PipelineConfig, config_dir: Path, version: int,
                    say: Callable[[str], None] = print) -> dict[str, int] | None:
    """Label a just-pushed version `canary`, `stable` staying where it is; None (nothing moved)
    for a first version, an unknown one, or one already labelled."""
    known, _ = known_versions(config)
    older = [v for v in known if v < version]
    current = current_plan(config_dir, config.model_name)
    labels = current.labels if current else {}
    if version not in known or not older or version in labels.values():
        return None
    base = current.base_path if current else str(layout.model_base_path(
        local_folder("serving_dir", config.serving_dir, "run"), config.model_name))
    stable = labels.get(STABLE, older[-1])
    target = plan_config(config.model_name, base, known, stable=stable, canary=version)
    move_labels(current, target, config_dir, None, say=say)
    return target.labels


def label_new_push(config: PipelineConfig, pushed: str | None,
                   config_dir: Path) -> dict[str, int] | None:
    """What `run` and the Airflow DAG's canary task do after a push: under `promotion: {mode:
    canary}` the pushed version is labelled canary while stable stays (a first version serves as
    stable directly); the labels afterwards, or None when nothing was labelled."""
    if config.declaration.promotion.mode is not PromotionMode.CANARY or not pushed:
        return None
    return label_as_canary(config, config_dir, int(pushed), say=lambda text: None)


def canary_line(config: PipelineConfig, pushed: str, labels: dict[str, int],
                config_dir: Path) -> str:
    """The console's line about a version just labelled canary."""
    return (f"canary      version {pushed} labelled canary, stable stays version "
            f"{labels[STABLE]} in {config_dir / MODELS_CONFIG} (python -m pipeline promote "
            f"--project {config.project} once live labels prove it)")


def canary_labels(config_dir: Path, model_name: str) -> tuple[ServingPlan, int, int]:
    """The current plan, its stable and its canary version; NoCanary when there is none."""
    current = current_plan(config_dir, model_name)
    if current is None or CANARY not in current.labels or STABLE not in current.labels:
        where = config_dir / MODELS_CONFIG
        raise NoCanary(f"no canary of model '{model_name}' in {where}: nothing to promote (a "
                       "blessed model is labelled canary when the project declares "
                       "promotion: {mode: canary})")
    stable, canary = current.labels[STABLE], current.labels[CANARY]
    if stable == canary:
        raise NoCanary(f"canary and stable both name version {stable} of model '{model_name}' "
                       f"in {config_dir / MODELS_CONFIG}: nothing to promote")
    return current, stable, canary


def promote_canary(current: ServingPlan, config_dir: Path, server: str | None = None,
                   timeout: float = DEFAULT_TIMEOUT,
                   say: Callable[[str], None] = print) -> dict[str, int]:
    """Move `stable` to the canary version (the canary label goes): the old stable stays loaded
    for an instant rollback."""
    canary = current.labels[CANARY]
    labels = {k: v for k, v in current.labels.items() if k != CANARY}
    labels[STABLE] = canary
    target = ServingPlan(current.model_name, current.base_path,
                         tuple(sorted(set(current.versions) | {canary})), labels)
    move_labels(current, target, config_dir, server, timeout, say)
    return target.labels
