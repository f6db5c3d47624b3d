"""`init`: a project from your own CSV data, with no model code: the task, each column's treatment
(or why it is left out), thresholds and slices, written as models/<name>/project.yaml and a curated
models/<name>/schema.pbtxt. Prints a summary to review; writes nothing when it refuses."""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from pipeline.config import PROJECT_ROOT, local_path
from pipeline.config.project import (
    DECLARATION_FILE,
    Task,
    Threshold,
    declaration_text,
    parse_declaration,
)
from pipeline.vocabulary import SCHEMA_FILE

MODELS_DIR_ENV = "PIPELINE_MODELS_DIR"


def default_models_dir() -> Path:
    """Where projects live: the repository's models/ folder (an env variable moves it, for tests)."""
    return Path(os.environ.get(MODELS_DIR_ENV) or PROJECT_ROOT / "models")


def _data_reference(path: Path) -> str:
    """The data path as the declaration states it: relative to the project root when inside it."""
    absolute = path.resolve()
    try:
        return str(absolute.relative_to(PROJECT_ROOT))
    except ValueError:
        return str(absolute)


def _schema_reference(folder: Path, name: str) -> str:
    """models/<name>/schema.pbtxt, relative to the project root when the folder is inside it."""
    return _data_reference(folder / name / SCHEMA_FILE)


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


def _write(target: Path, files: dict[str, str]) -> None:
    """Write into a temporary folder next to the target, then move it in place: all or nothing."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.init-", dir=target.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)  # mkdtemp's 0700 would make the project private
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


def _copy_data(source: Path, folder: Path) -> None:
    """Copy the file into its folder through a temporary name, so a failed copy leaves nothing."""
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{source.name}.partial"
    try:
        shutil.copyfile(source, partial)
        os.replace(partial, folder / source.name)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _summary(profile, project, target: Path) -> list[str]:
    """The reviewable summary: data, label and task, one line per column, thresholds, next step."""
    lines = [f"project {project.name}: {profile.rows} rows in {len(profile.files)} file(s) of "
             f"{project.data}"]
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
    bounds = _bounds(profile.thresholds)
    lines.append(f"thresholds: {', '.join(bounds)}; no worse than the serving model on "
                 f"{project.no_worse_than_serving}")
    lines.append(f"live bounds (feedback): {', '.join(_bounds(profile.live_bounds)) or 'none'}")
    lines.append(f"slices: {', '.join(profile.slices) or 'none'}")
    lines.append(f"id column: {project.id_column or 'none (score needs one: set id_column)'}")
    lines.append(f"wrote {target / DECLARATION_FILE} and {target / SCHEMA_FILE}: review and edit them")
    lines.append(f"next: python -m pipeline run --project {project.name}")
    return lines


def _init(args: argparse.Namespace) -> int:
    from pipeline.data.profile import profile
    from pipeline.data.profile_schema import curated_schema, schema_text

    models_dir = args.models_dir or default_models_dir()
    target = _target(models_dir, args.name, args.force)
    task = Task(args.task) if args.task else None
    result = profile(args.data, args.label, task, args.positive)
    data_folder = _data_folder(args.data, models_dir.parent / "data" / args.name, args.force)
    project = result.project(args.name, _data_reference(data_folder),
                             _schema_reference(models_dir, args.name))
    declaration = declaration_text(project)
    parse_declaration(declaration, target / DECLARATION_FILE)  # what a run will read must parse
    schema = schema_text(curated_schema(result), result)
    if data_folder != args.data:
        _copy_data(args.data, data_folder)
    _write(target, {DECLARATION_FILE: declaration, SCHEMA_FILE: schema})
    lines = _summary(result, project, target)
    if data_folder != args.data:
        lines.insert(1, f"copied {args.data} to {data_folder}/ (a run reads every file of one folder)")
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
