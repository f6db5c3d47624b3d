"""`feedback`: labels that arrive after scoring, joined by id to the prediction log; the task's
live metrics per model version (overall and per declared slice), the champion and the challenger
compared on the same rows, the live bounds checked, the labels kept under
`<state>/feedback/<project>/` and everything recorded in ML Metadata, all or nothing."""

from __future__ import annotations

import csv
import datetime as dt
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import STATE_DIR, PipelineConfig
from pipeline.config.project import Project, Task
from pipeline.errors import InvalidInput
from pipeline.scoring import prediction_log
from pipeline.scoring.batch import required_id_column
from pipeline.scoring.live_metrics import Labelled, breaches, live_metrics, no_worse
from pipeline.scoring.live_recording import record_feedback
from pipeline.serving.server_config import CANARY, STABLE

LABELS_SUFFIX = ".csv"
# How many never-scored ids a report names (all are counted).
SHOWN_UNSCORED = 5


class FeedbackError(InvalidInput):
    """Feedback cannot run on this input; the message names the file, line or column (exit 2)."""


@dataclass(frozen=True)
class ModelLive:
    """One model version's live metrics on the labelled rows it scored."""

    version: int
    roles: tuple[str, ...]
    rows: int
    metrics: dict[str, float]
    slices: dict[str, dict[str, dict[str, float]]]
    breaches: tuple[str, ...]

    @property
    def shadow_only(self) -> bool:
        """Scored only as the canary: its answers were never served, so its bounds alert nobody."""
        return self.roles == (CANARY,)


@dataclass(frozen=True)
class Comparison:
    """The champion (stable) and the challenger (canary) on the labelled rows both scored."""

    champion: int
    challenger: int
    rows: int
    champion_metrics: dict[str, float]
    challenger_metrics: dict[str, float]
    no_worse: bool
    reason: str


@dataclass(frozen=True)
class FeedbackResult:
    """What one feedback batch measured."""

    feedback_id: str
    step: int
    labels: int
    unscored: int
    unscored_examples: tuple[str, ...]
    models: tuple[ModelLive, ...]
    comparison: Comparison | None
    labels_file: Path

    @property
    def breached(self) -> bool:
        """A served model crossed a live bound."""
        return any(m.breaches and not m.shadow_only for m in self.models)


def feedback_dir(state_dir: Path, project: str) -> Path:
    """Where a project's feedback batches (their labels) are kept."""
    return state_dir / "feedback" / project


def normalized_label(value: str, project: Project, where: str) -> str:
    """The label as the declaration names it (`1.0` is class `1`); unknown values are refused."""
    text = value.strip()
    if project.task is Task.REGRESSION:
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise FeedbackError(f"{where}: label {value!r} is not a finite number")
        return text
    if text in project.classes:
        return text
    for name in project.classes:
        if _same_number(text, name):
            return name
    raise FeedbackError(f"{where}: unknown label value {value!r} (classes: "
                        f"{', '.join(project.classes)})")


def _same_number(a: str, b: str) -> bool:
    """`1.0` and `1` name one class; texts that are not numbers never match."""
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def read_labels(path: Path, project: Project, id_column: str) -> dict[str, str]:
    """Each id's label, in file order; a missing column, an empty or duplicate id, an unknown label
    or a file without rows is refused, naming the file and line."""
    if not path.is_file():
        raise FeedbackError(f"{path} is not a file")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:  # a spreadsheet's BOM too
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            for column, what in ((id_column, "id column"), (project.label, "label column")):
                if column not in header:
                    raise FeedbackError(f"{path}: no {what} '{column}' (columns: "
                                        f"{', '.join(header) or 'none'})")
            return _labels(reader, path, project, id_column)
    except UnicodeDecodeError as error:
        raise FeedbackError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise FeedbackError(f"cannot read {path}: {error.strerror}") from None


def _labels(reader: csv.DictReader, path: Path, project: Project, id_column: str) -> dict[str, str]:
    """The rows of an opened labels file."""
    labels: dict[str, str] = {}
    first: dict[str, int] = {}
    for line, row in enumerate(reader, start=2):
        where = f"{path}, line {line}"
        row_id = (row.get(id_column) or "").strip()
        if not row_id:
            raise FeedbackError(f"{where}: empty id column '{id_column}'")
        if row_id in labels:
            raise FeedbackError(f"{where}: duplicate id {row_id!r} (first on line {first[row_id]})")
        labels[row_id] = normalized_label(row.get(project.label) or "", project, where)
        first[row_id] = line
    if not labels:
        raise FeedbackError(f"{path}: no labelled rows (a header only)")
    return labels


def joined(records: Sequence[Mapping], labels: Mapping[str, str]) -> dict[int, dict[str, Mapping]]:
    """For each model version, each labelled id's newest logged prediction (records oldest first)."""
    found: dict[int, dict[str, Mapping]] = {}
    for record in records:
        row_id = str(record[prediction_log.RECORD_ID])
        if row_id in labels:
            found.setdefault(int(record[prediction_log.VERSION]), {})[row_id] = record
    return found


def _labelled(rows: Mapping[str, Mapping], labels: Mapping[str, str],
              ids: Sequence[str] | None = None) -> Labelled:
    """Predictions and labels of the given ids (all of `rows` by default), in one order."""
    chosen = sorted(rows) if ids is None else list(ids)
    return Labelled(tuple(labels[i] for i in chosen),
                    tuple(rows[i][prediction_log.OUTPUTS] for i in chosen))


def slice_metrics(project: Project, rows: Mapping[str, Mapping],
                  labels: Mapping[str, str]) -> dict[str, dict[str, dict[str, float]]]:
    """Per declared slice feature and value: the rows and the live metrics on them."""
    sliced: dict[str, dict[str, dict[str, float]]] = {}
    for feature in project.slices:
        groups: dict[str, list[str]] = {}
        for row_id, record in rows.items():
            value = (record.get(prediction_log.FEATURES) or {}).get(feature)
            groups.setdefault("(missing)" if value is None else str(value), []).append(row_id)
        sliced[feature] = {
            value: {"rows": float(len(ids)), **live_metrics(project, _labelled(rows, labels, ids))}
            for value, ids in sorted(groups.items())}
    return sliced


def model_live(project: Project, version: int, rows: Mapping[str, Mapping],
               labels: Mapping[str, str]) -> ModelLive:
    """One version's live metrics, slices and crossed bounds."""
    metrics = live_metrics(project, _labelled(rows, labels))
    roles = tuple(sorted({str(r.get(prediction_log.LABEL) or "version") for r in rows.values()}))
    return ModelLive(version, roles, len(rows), metrics, slice_metrics(project, rows, labels),
                     tuple(breaches(project.live_bounds, metrics)))


def newest_in_role(records: Sequence[Mapping], role: str) -> int | None:
    """The version most recently logged under a label (stable or canary)."""
    versions = [int(r[prediction_log.VERSION]) for r in records if r.get(prediction_log.LABEL) == role]
    return versions[-1] if versions else None


def compare(project: Project, by_version: Mapping[int, Mapping[str, Mapping]],
            labels: Mapping[str, str], champion: int | None,
            challenger: int | None) -> Comparison | None:
    """Champion and challenger on the labelled ids both scored (None without both)."""
    if champion is None or challenger is None or champion == challenger:
        return None
    return compare_pair(project, by_version, labels, champion, challenger)


def compare_pair(project: Project, by_version: Mapping[int, Mapping[str, Mapping]],
                 labels: Mapping[str, str], champion: int, challenger: int) -> Comparison:
    """Two versions' live metrics on the labelled ids both scored."""
    ours, theirs = by_version.get(challenger, {}), by_version.get(champion, {})
    common = sorted(set(ours) & set(theirs))
    challenger_metrics = live_metrics(project, _labelled(ours, labels, common))
    champion_metrics = live_metrics(project, _labelled(theirs, labels, common))
    better, reason = no_worse(project, challenger_metrics, champion_metrics)
    return Comparison(champion, challenger, len(common), champion_metrics, challenger_metrics,
                      better, reason)


def measure(project: Project, records: Sequence[Mapping], labels: Mapping[str, str],
            log_folder: Path) -> tuple[tuple[ModelLive, ...], Comparison | None, list[str]]:
    """Live metrics per version, the comparison, and the labelled ids no model ever scored."""
    by_version = joined(records, labels)
    scored = {row_id for rows in by_version.values() for row_id in rows}
    if not scored:
        raise FeedbackError(f"no prediction in {log_folder} for any of the {len(labels)} labelled "
                            "ids: score their rows first (or check the id column)")
    models = tuple(model_live(project, v, rows, labels) for v, rows in sorted(by_version.items()))
    relevant = [r for r in records if str(r[prediction_log.RECORD_ID]) in labels]
    comparison = compare(project, by_version, labels, newest_in_role(relevant, STABLE),
                         newest_in_role(relevant, CANARY))
    return models, comparison, [i for i in labels if i not in scored]


def read_prediction_log(project: str) -> tuple[Path, list[dict]]:
    """The project's prediction log; none at all, or a damaged file, stops feedback (exit 2)."""
    folder = prediction_log.log_dir(STATE_DIR, project)
    if not prediction_log.log_files(folder):
        raise FeedbackError(f"no prediction log for project '{project}' in {folder}: score a batch "
                            f"first (python -m pipeline score --project {project} --data PATH)")
    try:
        return folder, prediction_log.read_log(folder)
    except prediction_log.PredictionLogError as error:
        raise FeedbackError(str(error)) from None


def feedback(config: PipelineConfig, labels_path: Path) -> FeedbackResult:
    """Join, measure, keep the labels and record the batch; nothing is written when it cannot run."""
    project = config.declaration
    id_column = required_id_column(config)
    labels = read_labels(labels_path, project, id_column)
    folder, records = read_prediction_log(config.project)
    models, comparison, unscored = measure(project, records, labels, folder)
    kept = feedback_dir(STATE_DIR, config.project)
    step = len(_kept_files(kept)) + 1
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    feedback_id = uuid.uuid4().hex[:16]
    target = kept / prediction_log.batch_name(now, feedback_id).replace(
        prediction_log.LOG_SUFFIX, LABELS_SUFFIX)
    result = FeedbackResult(feedback_id, step, len(labels), len(unscored),
                            tuple(unscored[:SHOWN_UNSCORED]), models, comparison, target)
    staged = _stage_labels(target, id_column, project.label, labels)
    try:
        record_feedback(config, result, str(labels_path.resolve()))
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    prediction_log.publish(staged)
    return result


def _kept_files(folder: Path) -> list[Path]:
    """The feedback batches kept so far, oldest first."""
    return prediction_log.log_files(folder, LABELS_SUFFIX)


def kept_labels(state_dir: Path, project: str, id_column: str, label: str) -> dict[str, str]:
    """Every label kept by past feedback batches (a later batch's label for an id wins)."""
    labels: dict[str, str] = {}
    for path in _kept_files(feedback_dir(state_dir, project)):
        with path.open(newline="", encoding="utf-8") as handle:
            labels.update({row[id_column]: row[label] for row in csv.DictReader(handle)})
    return labels


def _stage_labels(target: Path, id_column: str, label: str, labels: Mapping[str, str]) -> Path:
    """The batch's labels, validated, in a hidden partial file beside their kept name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}{prediction_log.PARTIAL_SUFFIX}")
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([id_column, label])
        writer.writerows(labels.items())
    return partial
