"""`score`: every row of a CSV file or folder scored by a pushed model, written as a scores file,
appended to the project's prediction log and recorded in ML Metadata, all or nothing."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import STATE_DIR, PipelineConfig
from pipeline.config.project import ProjectError, declaration_path
from pipeline.scoring import prediction_log
from pipeline.scoring.class_cut import ClassCut, class_cut
from pipeline.scoring.inference import score_values, signature_outputs, with_class
from pipeline.scoring.inputs import Batch, ScoringInputError, input_types, read_batch
from pipeline.scoring.model_choice import ChosenModel, ModelChoiceError, choose_model
from pipeline.scoring.recording import record_scoring
from pipeline.serving.client import ClientError
from pipeline.serving.server_config import CANARY, STABLE
from pipeline.vocabulary import DEFAULT_DECISION_THRESHOLD, score_columns

# The columns of a scores file besides the id column and the task's outputs.
MODEL_COLUMN, VERSION_COLUMN, SCORED_AT_COLUMN = "model", "version", "scored_at"


@dataclass(frozen=True)
class ScoringResult:
    """What one scoring did: rows, the version used, where the scores and the log batch are."""

    rows: int
    model: str
    version: int
    label: str | None
    output: Path
    log_file: Path
    batch_id: str
    execution_id: int
    seconds: float
    shadow_version: int | None = None
    shadow_skipped: str = ""
    cut: ClassCut | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def required_id_column(config: PipelineConfig) -> str:
    """The declaration's id_column; a project without one cannot name its scored rows."""
    if config.declaration.id_column:
        return config.declaration.id_column
    raise ProjectError(
        f"{declaration_path(config.project, config.models_dir)}: id_column: not set; `score` "
        "names each scored row by it (add `id_column: COLUMN`, a column unique per row)")


def default_output(project: str, version: int, scored_at: str, batch_id: str) -> Path:
    """`<state>/scores/<project>/<time>-v<version>-<batch>.csv`."""
    stem = prediction_log.batch_name(scored_at, batch_id).removesuffix(prediction_log.LOG_SUFFIX)
    return STATE_DIR / "scores" / project / f"{stem}-v{version}.csv"


def predict_locally(config: PipelineConfig, config_dir: Path, data: Path, version: int | None,
                    label: str | None) -> tuple[list[dict[str, object]], ClassCut | None]:
    """`predict` without a server: each row's `serving_default` outputs (binary: and its class at
    the version's decision threshold), nothing recorded."""
    chosen = choose_model(config, config_dir, version, label)
    batch = read_batch(data, input_types(chosen.path), None)
    outputs = signature_outputs(chosen.path, batch.examples)
    cut = chosen_cut(config, chosen)
    if cut is None:
        return outputs, None
    return [with_class(row, config.declaration.classes, cut.threshold) for row in outputs], cut


def chosen_cut(config: PipelineConfig, chosen: ChosenModel) -> ClassCut | None:
    """The class cut of the chosen version (binary projects; None otherwise)."""
    return class_cut(config.declaration, chosen.path.parent, chosen.version)


@dataclass(frozen=True)
class Shadow:
    """The canary's answers on the same rows, logged beside stable's, never in the scores file."""

    chosen: ChosenModel
    scores: list[dict[str, object]]


@dataclass(frozen=True)
class Scored:
    """A batch scored in memory, before anything is written."""

    chosen: ChosenModel
    ids: tuple[str, ...]
    kept: tuple[dict[str, object], ...]
    fingerprint: str
    scores: list[dict[str, object]]
    scored_at: str
    batch_id: str
    shadow: Shadow | None = None


def _answers(config: PipelineConfig, chosen: ChosenModel, data: Path,
             id_column: str) -> tuple[Batch, list[dict[str, object]]]:
    """The rows as the model reads them, and its scores for each."""
    batch = read_batch(data, input_types(chosen.path), id_column, config.declaration.slices)
    outputs = signature_outputs(chosen.path, batch.examples)
    cut = chosen_cut(config, chosen)
    threshold = cut.threshold if cut else DEFAULT_DECISION_THRESHOLD
    return batch, [score_values(row, config.declaration.classes, threshold) for row in outputs]


def shadow_model(config: PipelineConfig, config_dir: Path, chosen: ChosenModel) -> ChosenModel | None:
    """The canary to score in shadow when the batch is scored by `stable` (None without one)."""
    if chosen.label != STABLE:
        return None
    try:
        canary = choose_model(config, config_dir, None, CANARY)
    except ModelChoiceError:
        return None
    return canary if canary.version != chosen.version else None


def score(config: PipelineConfig, data: Path, config_dir: Path, version: int | None = None,
          label: str | None = None, output: Path | None = None) -> ScoringResult:
    """Score every row with the chosen model (and, behind `stable`, the canary in shadow); the
    scores file, the log batch and the MLMD records appear together."""
    started = time.monotonic()
    id_column = required_id_column(config)
    chosen = choose_model(config, config_dir, version, label)
    canary = shadow_model(config, config_dir, chosen)
    batch, scores = _answers(config, chosen, data, id_column)
    shadow, skipped = _shadow_answers(config, canary, data, id_column)
    scored = Scored(chosen, batch.ids, batch.kept, batch.fingerprint, scores,
                    dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    uuid.uuid4().hex[:16], shadow)
    target = output or default_output(config.project, chosen.version, scored.scored_at,
                                      scored.batch_id)
    result = _write_together(config, scored, id_column, data, target, started)
    return dataclasses.replace(result, shadow_skipped=skipped, cut=chosen_cut(config, chosen))


def _shadow_answers(config: PipelineConfig, canary: ChosenModel | None, data: Path,
                    id_column: str) -> tuple[Shadow | None, str]:
    """The canary's answers, or why it could not score these rows (a column it needs is missing):
    stable's scoring goes on, and the reason is reported, not hidden."""
    if canary is None:
        return None, ""
    try:
        return Shadow(canary, _answers(config, canary, data, id_column)[1]), ""
    except (ScoringInputError, ClientError) as error:
        return None, f"canary version {canary.version} not scored in shadow: {error}"


def _write_together(config: PipelineConfig, scored: Scored, id_column: str, data: Path,
                    target: Path, started: float) -> ScoringResult:
    """Stage the scores file and the log batch, record the execution, then rename both into
    place; a failure before the renames removes what was staged."""
    log_folder = prediction_log.log_dir(STATE_DIR, config.project)
    staged = [_stage_scores(target, id_column, scored, config)]
    try:
        staged.append(prediction_log.stage_batch(
            log_folder, prediction_log.batch_name(scored.scored_at, scored.batch_id),
            _log_records(scored)))
        seconds = time.monotonic() - started
        chosen = scored.chosen
        facts = {"rows": len(scored.ids), "data": str(data.resolve()),
                 "data_fingerprint": scored.fingerprint, "seconds": round(seconds, 3),
                 "batch_id": scored.batch_id, "scored_at": scored.scored_at,
                 "prediction_log": str(log_folder.resolve())}
        execution_id = record_scoring(config, chosen.pushed_model, str(target.resolve()), {
            "model": chosen.name, "model_version": str(chosen.version),
            "label": chosen.label or "", **facts})
        if scored.shadow is not None:
            canary = scored.shadow.chosen
            record_scoring(config, canary.pushed_model, str(log_folder.resolve()), {
                "model": canary.name, "model_version": str(canary.version),
                "label": canary.label or "", "shadow": 1, **facts})
    except BaseException:
        for path in staged:
            path.unlink(missing_ok=True)
        raise
    os.replace(staged[0], target)
    log_file = prediction_log.publish(staged[1])
    return ScoringResult(len(scored.ids), chosen.name, chosen.version, chosen.label, target,
                         log_file, scored.batch_id, execution_id, seconds,
                         scored.shadow.chosen.version if scored.shadow else None)


def _stage_scores(target: Path, id_column: str, scored: Scored, config: PipelineConfig) -> Path:
    """The scores CSV in a hidden file beside its target: one row per input row."""
    columns = [id_column, MODEL_COLUMN, VERSION_COLUMN,
               *score_columns(config.declaration.task.value, config.declaration.classes),
               SCORED_AT_COLUMN]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row_id, values in zip(scored.ids, scored.scores, strict=True):
        writer.writerow({id_column: row_id, MODEL_COLUMN: scored.chosen.name,
                         VERSION_COLUMN: scored.chosen.version, **values,
                         SCORED_AT_COLUMN: scored.scored_at})
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(text.getvalue(), encoding="utf-8")
    return partial


def _log_records(scored: Scored) -> list[dict[str, object]]:
    """One prediction log record per scored row and model (stable's, then the shadow's)."""
    log = prediction_log
    answers = [(scored.chosen, scored.scores)]
    if scored.shadow is not None:
        answers.append((scored.shadow.chosen, scored.shadow.scores))
    return [{log.RECORD_ID: row_id, log.MODEL: chosen.name, log.VERSION: chosen.version,
             log.LABEL: chosen.label, log.OUTPUTS: values, log.FEATURES: kept,
             log.SCORED_AT: scored.scored_at, log.BATCH_ID: scored.batch_id}
            for chosen, scores in answers
            for row_id, values, kept in zip(scored.ids, scores, scored.kept, strict=True)]
