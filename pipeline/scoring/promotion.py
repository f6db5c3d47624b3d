"""`promote`: the canary becomes `stable` when, on the labelled rows both it and the stable
version scored (every feedback batch kept so far), its primary live metric is no worse and the
rows are at least the declared `promotion.min_labelled_rows`; otherwise it refuses, saying why.
Either way the decision and its evidence are a Promotion execution in ML Metadata."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import STATE_DIR, PipelineConfig
from pipeline.scoring.batch import required_id_column
from pipeline.scoring.feedback import Comparison, compare_pair, joined, kept_labels, read_prediction_log
from pipeline.scoring.live_recording import record_promotion
from pipeline.serving.canary import canary_labels, promote_canary
from pipeline.serving.release import DEFAULT_TIMEOUT
from pipeline.serving.server_config import CANARY, STABLE


@dataclass(frozen=True)
class PromotionResult:
    """What `promote` decided, on what evidence, and the labels afterwards."""

    promoted: bool
    stable: int
    canary: int
    rows: int
    required_rows: int
    reason: str
    comparison: Comparison
    labels: dict[str, int]
    execution_id: int


def decide(comparison: Comparison, required_rows: int) -> tuple[bool, str]:
    """Promote only a canary no worse than stable on enough labelled rows both scored."""
    versions = f"canary version {comparison.challenger} vs stable version {comparison.champion}"
    if comparison.rows < required_rows:
        return False, (f"{versions}: only {comparison.rows} labelled rows scored by both; "
                       f"promotion.min_labelled_rows is {required_rows}")
    if not comparison.no_worse:
        return False, f"{versions} on {comparison.rows} labelled rows: {comparison.reason} (worse)"
    return True, f"{versions} on {comparison.rows} labelled rows: {comparison.reason} (no worse)"


def promote(config: PipelineConfig, config_dir: Path, server: str | None = None,
            timeout: float = DEFAULT_TIMEOUT,
            say: Callable[[str], None] = print) -> PromotionResult:
    """Compare the canary with stable on every kept label, move `stable` or refuse, record it."""
    project = config.declaration
    current, stable, canary = canary_labels(config_dir, config.model_name)
    labels = kept_labels(STATE_DIR, config.project, required_id_column(config), project.label)
    _, records = read_prediction_log(config.project)
    comparison = compare_pair(project, joined(records, labels), labels, stable, canary)
    required = project.promotion.min_labelled_rows
    promoted, reason = decide(comparison, required)
    moved = promote_canary(current, config_dir, server, timeout, say) if promoted else current.labels
    evidence = {"stable_metrics": comparison.champion_metrics,
                "canary_metrics": comparison.challenger_metrics, "rows": comparison.rows,
                "required_rows": required, "labels_after": moved}
    execution_id = record_promotion(config, {
        "promoted": int(promoted), "stable": str(stable), "canary": str(canary),
        "rows": comparison.rows, "reason": reason,
        "evidence": json.dumps(evidence, sort_keys=True)}, {STABLE: stable, CANARY: canary})
    return PromotionResult(promoted, stable, canary, comparison.rows, required, reason,
                           comparison, dict(moved), execution_id)
