"""`init`: a project from your own CSV data, with no model code: the task, each column's treatment
(or why it is left out), thresholds and slices, written as models/<name>/project.yaml and a curated
models/<name>/schema.pbtxt. Prints a summary to review; writes nothing when it refuses."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path

from pipeline.config import PROJECT_ROOT, STATE_DIR, local_path
from pipeline.config.project import (
    DECLARATION_FILE,
    Task,
    Threshold,
    declaration_text,
    parse_declaration,
)
from pipeline.logs import shown_path, verbose_output_to
from pipeline.vocabulary import SCHEMA_FILE

MODELS_DIR_ENV = "PIPELINE_MODELS_DIR"


def default_models_dir() -> Path:
    """Where projects live: the repository's models/ folder (an env variable moves it, for tests)."""
    return Path(os.environ.get(MODELS_DIR_ENV) or PROJECT_ROOT / "models")


def _data_reference(path: Path, root: Path = PROJECT_ROOT) -> str:
    """The data path as the declaration states it: relative to the root a run resolves it against
    (the models folder's parent, the project root by default) when inside it, else absolute."""
    absolute = path.resolve()
    try:
        return str(absolute.relative_to(root.resolve()))
    except ValueError:
        return str(absolute)


def _schema_reference(folder: Path, name: str) -> str:
    """models/<name>/schema.pbtxt, relative to the models folder's parent when inside it."""
    return _data_reference(folder / name / SCHEMA_FILE, folder.parent)


def _target(models_dir: Path, name: str, force: bool) -> Path:
    """models/<name>, refused when it exists unless --force replaces a project's declaration."""
    from pipeline.data.csv_table import ProfileError
    from pipeline.data.profile import check_name

    check_name(name)
    target = models_dir / name
    if target.exists():
        if not (target / DECLARATION_FILE).is_file():
            raise ProfileError(f"{target} exists and is not a project (no {DECLARATION_FILE}); "
                               "choose another name")
        if not force:
            raise ProfileError(f"project '{name}' already exists ({target}); pass --force to "
                               "replace its project.yaml and schema.pbtxt")
    return target


def _staging_beside(target: Path) -> Path:
    """A temporary folder next to the target (same file system: renames are atomic), with the
    permissions of an ordinary folder (mkdtemp's 0700 would make the project private)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.init-", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)
    return staging


def _write(target: Path, files: dict[str, str]) -> None:
    """Write into a temporary folder next to the target, then move it in place: all or nothing."""
    staging = _staging_beside(target)
    try:
        for name, text in files.items():
            (staging / name).write_text(text, encoding="utf-8")
        if target.exists():  # --force: replace the two files, keep the project's own code
            for name in files:
                os.replace(staging / name, target / name)
            staging.rmdir()
        else:
            staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _data_folder(data: Path, landing: Path, force: bool) -> Path:
    """A folder is read as it is; a single file gets a folder of its own (data/<name>/), since a
    run reads every file of one folder and the file's own folder may hold others."""
    from pipeline.data.csv_table import ProfileError

    if data.is_dir():
        return data
    if landing.exists() and not force:
        raise ProfileError(f"{landing} already exists; pass --force to replace the copy in it, "
                           "or pass a folder with --data")
    return landing


def _copy_data(source: Path, folder: Path) -> Path | None:
    """Make the folder hold the profiled file and nothing else: copied into a staging folder, then
    swapped in. An earlier folder (--force) is moved aside whole, never merged with the new file
    (a run reads every file of the folder, and must train on what was profiled); where it went."""
    staging = _staging_beside(folder)
    aside = folder.with_name(f"{folder.name}.replaced-{dt.datetime.now():%Y%m%d-%H%M%S-%f}")
    try:
        shutil.copyfile(source, staging / source.name)
        if not folder.exists():
            staging.rename(folder)
            return None
        folder.rename(aside)
        try:
            staging.rename(folder)
        except OSError:
            aside.rename(folder)
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return aside


def _summary(profile, project, target: Path) -> list[str]:
    """The reviewable summary: data, label and task, one line per column, thresholds, next step."""
    lines = [f"project {project.name}: {profile.rows} rows in {len(profile.files)} file(s) of "
             f"{shown_path(project.data)}"]
    label = f"label: {profile.label} -> {profile.task.value} ({profile.task_reason})"
    if profile.classes:
        counts = ", ".join(f"{c!r} {profile.class_counts[c]}" for c in profile.classes)
        label += f"; classes {counts}"
    if profile.positive_class is not None:
        label += f"; positive {profile.positive_class!r}"
    if profile.task is Task.REGRESSION:
        column = profile.columns[profile.label]
        label += (f"; mean {column.mean:.4g}, std {column.std:.4g}, "
                  f"range {column.minimum:.4g}..{column.maximum:.4g}")
    lines.append(label)
    lines.extend(f"warning: {w}" for w in profile.warnings)
    lines.append("columns:")
    width = max(len(d.column) for d in profile.decisions)
    for decision in profile.decisions[1:]:
        lines.append(f"  {decision.column:<{width}}  {decision.summary:<11} {decision.reason}")
    metric = project.primary_metric
    margin = (f"{profile.baseline_margin:g}" if metric.higher_is_better
              else f"{profile.baseline_margin:.0%} of its value")
    lines.append(f"blessing: {metric.name} no worse than a linear model's on the same split by more "
                 f"than {margin} (metrics.baseline_margin), and no worse than the serving model "
                 f"(metrics.no_worse_than_serving); absolute bounds: metrics.thresholds")
    if profile.hyperparameters:
        settings = ", ".join(f"{k} {v:g}" for k, v in profile.hyperparameters.items())
        lines.append(f"training: {settings} ({profile.rows} rows: a stronger penalty against "
                     "overfitting; training.hyperparameters)")
    lines.append(f"live bounds (feedback): {', '.join(_bounds(profile.live_bounds)) or 'none'}")
    if project.task is Task.BINARY:
        lines.append(f"decision threshold: {project.decision_threshold.describe()} on the training "
                     f"split, the class score and predict give (decision_threshold; "
                     f"{{rule: fixed, value: 0.5}} keeps a 0.5 cut)")
    lines.append(f"slices: {', '.join(profile.slices) or 'none'}")
    lines.append(f"id column: {project.id_column or 'none (score needs one: set id_column)'}")
    lines.append(f"wrote {shown_path(target / DECLARATION_FILE)} and {shown_path(target / SCHEMA_FILE)}: "
                 "review and edit them")
    lines.append(f"next: python -m pipeline run --project {project.name}")
    return lines


def _init(args: argparse.Namespace) -> int:
    from pipeline.data.profile import profile
    from pipeline.data.profile_schema import curated_schema, schema_text

    models_dir = args.models_dir or default_models_dir()
    target = _target(models_dir, args.name, args.force)
    task = Task(args.task) if args.task else None
    # TensorFlow's start-up lines (TFDV computes the statistics) go to a log, not before the summary.
    with verbose_output_to(STATE_DIR / "logs" / "init.log"):
        result = profile(args.data, args.label, task, args.positive)
    data_folder = _data_folder(args.data, models_dir.parent / "data" / args.name, args.force)
    project = result.project(args.name, _data_reference(data_folder, models_dir.parent),
                             _schema_reference(models_dir, args.name))
    declaration = declaration_text(project)
    parse_declaration(declaration, target / DECLARATION_FILE)  # what a run will read must parse
    schema = schema_text(curated_schema(result), result)
    aside = _copy_data(args.data, data_folder) if data_folder != args.data else None
    _write(target, {DECLARATION_FILE: declaration, SCHEMA_FILE: schema})
    lines = _summary(result, project, target)
    if data_folder != args.data:
        lines.insert(1, f"copied {shown_path(args.data)} to {shown_path(data_folder)}/ (a run reads "
                        "every file of one folder)")
    if aside is not None:
        lines.insert(2, f"moved the earlier {shown_path(data_folder)}/ to {shown_path(aside)}/: the "
                        "project reads only the file it profiled")
    print("\n".join(lines))
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register `init`."""
    parser = commands.add_parser(
        "init", help="create a project from a CSV file or folder (no model code needed)",
        description="Profile the CSV data, decide the task and each column's treatment, and write "
                    "models/NAME/project.yaml and models/NAME/schema.pbtxt to review.")
    parser.add_argument("name", metavar="NAME", help="project name (a Python identifier)")
    parser.add_argument("--data", type=local_path, required=True, metavar="PATH",
                        help="a CSV file or a folder of CSV files with one header")
    parser.add_argument("--label", required=True, metavar="COLUMN", help="the column to predict")
    parser.add_argument("--task", choices=[t.value for t in Task],
                        help="what the label is (default: inferred from its values)")
    parser.add_argument("--positive", metavar="VALUE",
                        help="binary task: the label value that is the positive class")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing project's project.yaml and schema.pbtxt")
    parser.add_argument("--models-dir", type=local_path, default=None, help=argparse.SUPPRESS)
    parser.set_defaults(handler=_init)


def _bounds(bounds: tuple[Threshold, ...]) -> list[str]:
    """`auc >= 0.7`, `rmse <= 3.2`: each bound as a reviewer reads it."""
    texts = []
    for t in bounds:
        texts += [f"{t.metric} >= {t.lower:g}"] if t.lower is not None else []
        texts += [f"{t.metric} <= {t.upper:g}"] if t.upper is not None else []
    return texts
