"""`python -m benchmarks.quality`: does our model reach a plain scikit-learn baseline's quality?

Two tables. Public datasets (benchmarks/public_data.py, files bundled in scikit-learn's wheel):
each written as a CSV, `init` with its defaults and no edits, `run`; pushed or not (the run's exit
code), ours against the majority class (or mean), a linear model and HistGradientBoosting on the
run's own split. The target: pushed wherever the linear model beats the majority baseline, and
within the task's tolerance of the better scikit-learn model. Then the repository's own projects.

For each project: one run of our pipeline (its CLI, default steps) into a scratch root; the same
train/eval split that run's CsvExampleGen wrote, decoded to a frame of the declared features and
the label (a label the project derives, as the run's own Transform graph computes it); a one-hot +
standardized encoding; LogisticRegression (LinearRegression) and HistGradientBoosting fitted on
train and scored on eval with the task's primary metric; compared with the Evaluator's metric the
run recorded. Our model passes when it is within the task's tolerance of every scikit-learn model:
0.015 AUC (binary), 0.03 accuracy (multi-class), 10 % RMSE (regression).

Writes quality.json and quality.md to --output (benchmarks/results by default) and prints the table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from benchmarks.public_data import DATASETS, PublicDataset
from pipeline.config import MODELS_DIR, PROJECT_ROOT, store_config
from pipeline.config.project import TASK_METRICS, Metric, Project, Task, Treatment, load_project
from pipeline.errors import EXIT_NOT_BLESSED
from pipeline.vocabulary import (
    EVAL_SPLIT,
    EXAMPLE_GEN,
    EXAMPLES_KEY,
    MODEL_KEY,
    TRAIN_SPLIT,
    TRAINER,
    TRANSFORM_SIGNATURE,
    WEIGHT_KEY,
    label_key,
    split_folder,
)

if TYPE_CHECKING:
    from benchmarks.harness import ProcessMeasure

DEFAULT_PROJECTS = ("taxi", "penguins")
RUN_OUTCOME = "outcome.json"  # the run's exit code and seconds, beside its store (for --reuse)
MAJORITY = "majority"  # the constant reference: the majority class, or the train mean
SERVING_FORMAT = "Format-Serving"
SPLITS = (TRAIN_SPLIT, EVAL_SPLIT)
STRING_TREATMENTS = (Treatment.CATEGORICAL, Treatment.VOCABULARY, Treatment.HASHED)
MISSING = "__missing__"
SEED = 42
BATCH_RECORDS = 1024


@dataclass(frozen=True)
class Allowance:
    """How far below (or above, for an error) a baseline our model may land and still pass."""

    amount: float
    relative: bool  # True: a share of the baseline's value (RMSE); False: absolute (AUC, accuracy)

    def describe(self, metric: Metric) -> str:
        worse = "below" if metric.higher_is_better else "above"
        amount = f"{self.amount:.0%}" if self.relative else f"{self.amount:g}"
        return f"at most {amount} {worse}"


TOLERANCES: dict[Task, Allowance] = {
    Task.BINARY: Allowance(0.015, relative=False),
    Task.MULTICLASS: Allowance(0.03, relative=False),
    Task.REGRESSION: Allowance(0.10, relative=True),
}


def task_metric(task: Task) -> Metric:
    """The metric a task is compared on: auc, accuracy or rmse (the task's first)."""
    return TASK_METRICS[task][0]


def passes(task: Task, ours: float, baseline: float) -> bool:
    """Whether our metric is within the task's tolerance of the baseline's."""
    if not (math.isfinite(ours) and math.isfinite(baseline)):
        return False
    allowance, metric = TOLERANCES[task], task_metric(task)
    slack = allowance.amount * abs(baseline) if allowance.relative else allowance.amount
    return ours >= baseline - slack if metric.higher_is_better else ours <= baseline + slack


# --- label -------------------------------------------------------------------------------------


def label_columns(project: Project) -> tuple[str, ...]:
    """The raw columns the label (and weight) is read from."""
    columns = project.label_columns or (project.label,)
    return tuple(dict.fromkeys(columns + ((project.weight,) if project.weight else ())))


def derived_label(project: Project) -> bool:
    """Whether the project's own preprocessing_fn computes the label from other columns."""
    return project.label not in label_columns(project)


def label_and_weight(project: Project, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The label as the model sees it (binary 0/1, class index, float) and each row's weight; a
    derived label and its weight are the columns the run's Transform graph added (`transformed`)."""
    if derived_label(project):
        return frame[label_key(project.label)].to_numpy(), frame[WEIGHT_KEY].to_numpy(np.float64)
    raw = frame[project.label]
    if project.task is Task.REGRESSION:
        values = pd.to_numeric(raw, errors="coerce").to_numpy(np.float64)
        label, weight = values, np.isfinite(values).astype(np.float64)
        label = np.nan_to_num(label)
    else:
        names = raw.map(lambda v: None if v is None else _text(v))
        if project.task is Task.BINARY:
            positive = project.positive_class or project.classes[-1]
            label = (names == positive).to_numpy(np.int64)
            weight = names.notna().to_numpy(np.float64)
        else:
            index = {name: i for i, name in enumerate(project.classes)}
            codes = names.map(index)
            weight = codes.notna().to_numpy(np.float64)
            label = codes.fillna(0).to_numpy(np.int64)
    if project.weight:
        weight = weight * pd.to_numeric(frame[project.weight], errors="coerce").fillna(0).to_numpy()
    return label, weight


def _text(value: object) -> str:
    """A feature value as the string a vocabulary would hold (ints without '.0')."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --- encoding ----------------------------------------------------------------------------------


@dataclass
class Encoder:
    """One-hot for string/categorical features (missing is a category, unseen ones all-zero),
    z-scored numerics (missing imputed with the train mean). Fitted on train only."""

    numeric: list[str]
    categorical: list[str]
    means: dict[str, float] | None = None
    stds: dict[str, float] | None = None
    categories: dict[str, list[str]] | None = None

    @classmethod
    def for_project(cls, project: Project) -> Encoder:
        categorical = [f.name for f in project.features if f.treatment in STRING_TREATMENTS]
        numeric = [f.name for f in project.features if f.treatment not in STRING_TREATMENTS]
        return cls(numeric=numeric, categorical=categorical)

    def fit(self, frame: pd.DataFrame) -> Encoder:
        self.means, self.stds, self.categories = {}, {}, {}
        for name in self.numeric:
            values = pd.to_numeric(frame[name], errors="coerce")
            mean = float(values.mean()) if values.notna().any() else 0.0
            std = float(values.fillna(mean).std(ddof=0))
            self.means[name], self.stds[name] = mean, std if std > 0 else 1.0
        for name in self.categorical:
            self.categories[name] = sorted(set(self._strings(frame[name])))
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        if self.means is None or self.stds is None or self.categories is None:
            raise RuntimeError("Encoder.transform before fit")
        blocks = []
        for name in self.numeric:
            values = pd.to_numeric(frame[name], errors="coerce").fillna(self.means[name])
            blocks.append(((values.to_numpy(np.float64) - self.means[name]) / self.stds[name])[:, None])
        for name in self.categorical:
            strings = np.asarray(self._strings(frame[name]), dtype=object)
            known = np.asarray(self.categories[name], dtype=object)
            blocks.append((strings[:, None] == known[None, :]).astype(np.float64))
        return np.hstack(blocks) if blocks else np.zeros((len(frame), 0))

    def feature_names(self) -> list[str]:
        names = list(self.numeric)
        for name in self.categorical:
            names += [f"{name}={value}" for value in (self.categories or {}).get(name, [])]
        return names

    @staticmethod
    def _strings(column: pd.Series) -> list[str]:
        return [MISSING if _missing(v) else _text(v) for v in column]


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# --- baselines and scoring ---------------------------------------------------------------------


def score(task: Task, label: np.ndarray, predicted: np.ndarray, weight: np.ndarray) -> float:
    """The task's metric on eval: weighted ROC AUC of the positive score / accuracy of the
    arg-max / RMSE. Rows of weight 0 count for nothing."""
    from sklearn.metrics import accuracy_score, mean_squared_error, roc_auc_score

    kept = weight > 0
    label, predicted, weight = label[kept], predicted[kept], weight[kept]
    if task is Task.BINARY:
        return float(roc_auc_score(label, predicted, sample_weight=weight))
    if task is Task.MULTICLASS:
        return float(accuracy_score(label, predicted, sample_weight=weight))
    return float(math.sqrt(mean_squared_error(label, predicted, sample_weight=weight)))


def baselines(task: Task) -> dict[str, object]:
    """The plain models, unfitted, by the name the report shows: the constant reference first."""
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LinearRegression, LogisticRegression

    if task is Task.REGRESSION:
        return {MAJORITY: DummyRegressor(strategy="mean"), "linear_regression": LinearRegression(),
                "hist_gradient_boosting": HistGradientBoostingRegressor(random_state=SEED)}
    return {MAJORITY: DummyClassifier(strategy="prior"),
            "logistic_regression": LogisticRegression(max_iter=2000),
            "hist_gradient_boosting": HistGradientBoostingClassifier(random_state=SEED)}


def predict(task: Task, model: object, features: np.ndarray) -> np.ndarray:
    """What `score` takes: the positive class's probability, the class index, or the value."""
    if task is Task.BINARY:
        return model.predict_proba(features)[:, 1]  # type: ignore[attr-defined]
    return model.predict(features)  # type: ignore[attr-defined]


def fit_baselines(project: Project, train: pd.DataFrame, evaluation: pd.DataFrame) -> dict:
    """Each baseline's metric on eval (fitted on train's rows of positive weight, weighted)."""
    encoder = Encoder.for_project(project).fit(train)
    x_train, x_eval = encoder.transform(train), encoder.transform(evaluation)
    y_train, w_train = label_and_weight(project, train)
    y_eval, w_eval = label_and_weight(project, evaluation)
    kept = w_train > 0
    results = {}
    for name, model in baselines(project.task).items():
        model.fit(x_train[kept], y_train[kept], sample_weight=w_train[kept])  # type: ignore[attr-defined]
        results[name] = score(project.task, y_eval, predict(project.task, model, x_eval), w_eval)
    return {"metrics": results, "encoded_columns": x_train.shape[1],
            "rows": {"train": int(kept.sum()), "eval": int((w_eval > 0).sum())}}


def compare(project: Project, ours: float, baseline_metrics: dict[str, float]) -> dict:
    """One project's verdict: ours against each scikit-learn model, within the task's tolerance
    (the constant reference is shown, never a bar to clear)."""
    metric = task_metric(project.task)
    checks = {name: {"value": value, "gap": ours - value, "pass": passes(project.task, ours, value)}
              for name, value in baseline_metrics.items() if name != MAJORITY}
    return {"project": project.name, "task": project.task.value, "metric": metric.name,
            "higher_is_better": metric.higher_is_better, "ours": ours,
            "tolerance": TOLERANCES[project.task].describe(metric), "baselines": checks,
            "pass": all(c["pass"] for c in checks.values())}


def public_markdown(results: Sequence[dict]) -> str:
    """The public datasets' table: one row per dataset, init's defaults with no edits."""
    lines = ["# Model quality with `init`'s defaults on public datasets", "",
             "Each dataset written as one CSV, `python -m pipeline init` with no flags but --label "
             "and no edits, `run`; the baselines are fitted on that run's own train/eval split. "
             "Target: pushed wherever the linear model beats the majority baseline; ours within "
             + ", ".join(f"{a.describe(task_metric(t))} ({task_metric(t).name})"
                         for t, a in TOLERANCES.items())
             + " the better scikit-learn model.", "",
             "| dataset | covers | metric | pushed (exit) | ours | majority/mean | linear | "
             "HistGB | ours - better | target |", "|---|---|---|---|---:|---:|---:|---:|---:|---|"]
    for r in results:
        values = {n: c["value"] for n, c in r["baselines"].items()}
        linear, hgb = (values[n] for n in sorted(values, key=lambda n: n.startswith("hist")))
        lines.append(f"| {r['dataset']} | {r['covers']} | {r['metric']} | "
                     f"{'yes' if r['pushed'] else 'no'} ({r['exit_code']}) | {r['ours']:.4f} | "
                     f"{r[MAJORITY]:.4f} | {linear:.4f} | {hgb:.4f} | "
                     f"{r['baselines'][r['best_sklearn']]['gap']:+.4f} | "
                     f"{'MET' if r['target_met'] else 'MISSED'} |")
    return "\n".join(lines + [""])


def markdown(comparisons: Iterable[dict]) -> str:
    """A table per project: ours, each baseline, the gap, the tolerance and PASS/FAIL."""
    lines = ["# Model quality against plain scikit-learn baselines", "",
             "Same train/eval split as our run's CsvExampleGen; one-hot categoricals, z-scored "
             "numerics (train-mean imputation).", ""]
    for c in comparisons:
        verdict = "PASS" if c["pass"] else "FAIL"
        lines += [f"## {c['project']} ({c['task']}, {c['metric']}): {verdict}", "",
                  f"Tolerance: ours {c['tolerance']} each baseline. "
                  + (f"Run {c['run_id']}; rows of positive weight: train {c['rows']['train']}, "
                     f"eval {c['rows']['eval']}; {c['encoded_columns']} encoded columns."
                     if "run_id" in c else ""), "",
                  f"| model | {c['metric']} | ours - baseline | verdict |", "|---|---:|---:|---|",
                  f"| ours (TFX pipeline) | {c['ours']:.4f} | | |"]
        if MAJORITY in c:
            lines.append(f"| {MAJORITY} (reference) | {c[MAJORITY]:.4f} | "
                         f"{c['ours'] - c[MAJORITY]:+.4f} | |")
        for name, check in c["baselines"].items():
            lines.append(f"| {name} | {check['value']:.4f} | {check['gap']:+.4f} | "
                         f"{'PASS' if check['pass'] else 'FAIL'} |")
        lines.append("")
    return "\n".join(lines)


# --- the run and its split ---------------------------------------------------------------------


def run_pipeline(name: str, scratch: Path, timeout: float,
                 models_dir: Path = MODELS_DIR) -> ProcessMeasure:
    """Our pipeline through its CLI into a fresh scratch root: its wall seconds and exit code."""
    from benchmarks.harness import measure

    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    command = [sys.executable, "-m", "pipeline", "run", "--project", name,
               "--models-dir", str(models_dir),
               "--pipeline-root", str(scratch / "root"), "--metadata", str(scratch / "m.sqlite"),
               "--serving-dir", str(scratch / "serving"), "--log-dir", str(scratch / "logs")]
    # A model that is not blessed is a quality finding here, not a failed measurement.
    return measure(command, scratch / "run.log", PROJECT_ROOT, _child_env(), timeout,
                   accepted=(0, EXIT_NOT_BLESSED))


def _child_env() -> dict[str, str]:
    """The environment of the pipeline's commands: ours, with the legacy Keras TFX needs."""
    return {**os.environ, "TF_USE_LEGACY_KERAS": "1"}


@dataclass(frozen=True)
class RecordedRun:
    """What the comparison reads of a run: its id, metrics (TFMA keys), examples and model."""

    run_id: str
    metrics: dict[str, float]
    files: dict[str, list[str]]
    model: str | None  # the Trainer's SavedModel; None when the run has none


def read_run(name: str, scratch: Path, models_dir: Path = MODELS_DIR) -> RecordedRun:
    """The run's id, its recorded metrics, its CsvExampleGen files per split and its Trainer's model."""
    from pipeline.metadata import connection, records, summary

    config = store_config({}, {"project": name, "models_dir": models_dir,
                               "metadata_path": str(scratch / "m.sqlite")})
    store = connection.open_metadata(config)
    run_id = records.latest_run_id(store, config.pipeline_name)
    evaluation = summary.recorded_evaluation(store, run_id)
    if evaluation is None:
        raise RuntimeError(f"run {run_id} of {name} recorded no evaluation metrics")
    components = records.component_runs(store, run_id)
    examples = _output_uri(components, EXAMPLE_GEN, EXAMPLES_KEY)
    if examples is None:
        raise RuntimeError(f"run {run_id} of {name} has no {EXAMPLE_GEN} examples")
    files = {split: sorted(str(p) for p in (Path(examples) / split_folder(split)).glob("*"))
             for split in SPLITS}
    model = _output_uri(components, TRAINER, MODEL_KEY)
    return RecordedRun(run_id, evaluation["metrics"], files,
                       str(Path(model) / SERVING_FORMAT) if model else None)


def _output_uri(components: Sequence, node_id: str, key: str) -> str | None:
    """The uri of one component's output in the run, if it has one."""
    found = [c for c in components if c.node_id == node_id and c.outputs.get(key)]
    return found[0].outputs[key][0].uri if found else None


def decode(files: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
    """Gzipped TFRecords of tf.Example to a frame of `columns` (first value; None when empty)."""
    import tensorflow as tf

    rows = []
    for record in tf.data.TFRecordDataset(list(files), compression_type="GZIP").as_numpy_iterator():
        example = tf.train.Example.FromString(record)
        row: dict[str, object] = {}
        for column in columns:
            feature = example.features.feature.get(column)
            kind = feature.WhichOneof("kind") if feature is not None else None
            values = getattr(feature, kind).value if kind else []
            value = values[0] if len(values) else None
            row[column] = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        rows.append(row)
    return pd.DataFrame(rows, columns=list(columns))


def transformed(model_dir: str, files: Sequence[str], project: Project) -> pd.DataFrame:
    """The label and weight the model's Transform graph gives each record (in `decode`'s order): a
    derived label by the project's own rule, without importing the project's code."""
    import tensorflow as tf


    signature = tf.saved_model.load(model_dir).signatures[TRANSFORM_SIGNATURE]
    keys, parts = (label_key(project.label), WEIGHT_KEY), []
    for batch in tf.data.TFRecordDataset(list(files), compression_type="GZIP").batch(BATCH_RECORDS):
        outputs = signature(examples=batch)
        parts.append(pd.DataFrame({key: outputs[key].numpy().reshape(-1) for key in keys}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(keys))


def labelled(run: RecordedRun, split: str, project: Project) -> pd.DataFrame:
    """One split as a frame of the declared features and label columns (and a derived label)."""
    columns = list(dict.fromkeys(project.feature_names + label_columns(project)))
    frame = decode(run.files[split], columns)
    if not derived_label(project):
        return frame
    if run.model is None:
        raise RuntimeError(f"run {run.run_id} of {project.name} has no {TRAINER} model to compute "
                           f"its derived label '{project.label}' with")
    return frame.join(transformed(run.model, run.files[split], project))


def benchmark_project(name: str, work_dir: Path, timeout: float, reuse: bool) -> dict:
    """Run (or reuse) our pipeline for one project and compare its model with the baselines."""
    project = load_project(name, MODELS_DIR)
    scratch = work_dir / name
    seconds = None
    if not (reuse and (scratch / "m.sqlite").exists()):
        print(f"[quality] {name}: running the pipeline into {scratch}", flush=True)
        seconds = run_pipeline(name, scratch, timeout).seconds
    result = measured(project, read_run(name, scratch))
    result["run_seconds"] = seconds
    return result


def measured(project: Project, run: RecordedRun) -> dict:
    """Ours against the baselines fitted on the run's own split, with the run's facts."""
    train, evaluation = labelled(run, TRAIN_SPLIT, project), labelled(run, EVAL_SPLIT, project)
    fitted = fit_baselines(project, train, evaluation)
    metric = task_metric(project.task)
    ours = project.named_metrics(run.metrics).get(metric.name, float("nan"))
    result = compare(project, ours, fitted["metrics"])
    result.update({MAJORITY: fitted["metrics"][MAJORITY]}, run_id=run.run_id, rows=fitted["rows"],
                  encoded_columns=fitted["encoded_columns"],
                  ours_all=project.named_metrics(run.metrics))
    return result


# --- public datasets, with init's defaults -----------------------------------------------------


def init_project(dataset: PublicDataset, scratch: Path, timeout: float) -> Path:
    """The dataset's CSV under scratch/data and `init` with its defaults into scratch/models."""
    from benchmarks.harness import measure

    shutil.rmtree(scratch, ignore_errors=True)
    data = scratch / "data"
    dataset.write_csv(data)
    models = scratch / "models"
    command = [sys.executable, "-m", "pipeline", "init", dataset.name, "--data", str(data),
               "--label", dataset.label, "--models-dir", str(models)]
    measure(command, scratch / "init.log", PROJECT_ROOT, _child_env(), timeout)
    return models


def benchmark_dataset(dataset: PublicDataset, work_dir: Path, timeout: float, reuse: bool) -> dict:
    """init (defaults, no edits) and run on one public dataset; ours against the baselines."""
    scratch = work_dir / "public" / dataset.name
    models, run_dir = scratch / "models", scratch / "run"
    outcome = run_dir / RUN_OUTCOME
    if not (reuse and outcome.is_file()):
        print(f"[quality] {dataset.name}: init and run into {scratch}", flush=True)
        init_project(dataset, scratch, timeout)
        process = run_pipeline(dataset.name, run_dir, timeout, models)
        outcome.write_text(json.dumps({"exit_code": process.exit_code,
                                       "run_seconds": process.seconds}) + "\n")
    project = load_project(dataset.name, models)
    result = measured(project, read_run(dataset.name, run_dir, models))
    result.update(json.loads(outcome.read_text()), dataset=dataset.name, covers=dataset.covers,
                  label=dataset.label, pushed=_pushed(run_dir / "serving", project.name))
    return {**result, **target_verdict(project.task, result)}


def _pushed(serving: Path, model_name: str) -> bool:
    """Whether the run published a version under its serving dir (what `run` pushes)."""
    return any(p.is_dir() for p in (serving / model_name).glob("*"))


def target_verdict(task: Task, result: dict) -> dict:
    """The issue's target on one dataset: pushed wherever the linear model beats the majority
    baseline, and within the task's tolerance of the better scikit-learn model."""
    metric = task_metric(task)
    linear = next(n for n in result["baselines"] if n.startswith(("logistic", "linear")))
    values = {name: check["value"] for name, check in result["baselines"].items()}
    better = (max if metric.higher_is_better else min)(values, key=values.__getitem__)
    beats = values[linear] > result[MAJORITY] if metric.higher_is_better \
        else values[linear] < result[MAJORITY]
    close = passes(task, result["ours"], values[better])
    return {"linear_beats_majority": beats, "best_sklearn": better, "within_tolerance": close,
            "target_met": close and (result["pushed"] or not beats)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=list(DATASETS),
                        help="public datasets run through init's defaults (none: skip the table)")
    parser.add_argument("--projects", nargs="*", default=list(DEFAULT_PROJECTS),
                        help="the repository's own projects (none: skip them)")
    parser.add_argument("--output", type=Path, default=PROJECT_ROOT / "benchmarks" / "results")
    parser.add_argument("--work-dir", type=Path, default=PROJECT_ROOT / "state" / "bench-quality",
                        help="scratch roots, one per project and dataset (emptied before its run)")
    parser.add_argument("--reuse", action="store_true",
                        help="compare against the run already in --work-dir instead of running again")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per pipeline run")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a project fails or a dataset misses its target")
    args = parser.parse_args(argv)
    public = [benchmark_dataset(DATASETS[name], args.work_dir, args.timeout, args.reuse)
              for name in args.datasets]
    comparisons = [benchmark_project(name, args.work_dir, args.timeout, args.reuse)
                   for name in args.projects]
    args.output.mkdir(parents=True, exist_ok=True)
    document = {"created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "tolerances": {t.value: vars(a) for t, a in TOLERANCES.items()},
                "datasets": public, "projects": comparisons}
    (args.output / "quality.json").write_text(json.dumps(document, indent=2) + "\n")
    table = "\n".join(([public_markdown(public)] if public else [])
                      + ([markdown(comparisons)] if comparisons else []))
    (args.output / "quality.md").write_text(table + "\n")
    print(table)
    failed = [c for c in comparisons if not c["pass"]] + [r for r in public if not r["target_met"]]
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
