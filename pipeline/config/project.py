"""A project's declaration (models/<name>/project.yaml): the one source of truth for its data, label,
task, features and their treatment, slices, metrics and blessing thresholds.

Preprocessing, the model, the Evaluator's config, serving, summaries and reports all read it; no
feature, label, metric or dataset name is written in platform code. TF-free: parsed by plain Python.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import InvalidInput

DECLARATION_FILE = "project.yaml"


class ProjectError(InvalidInput):
    """The declaration is missing or invalid; the message names the file and the field."""


class Task(str, enum.Enum):
    """What the label is: two classes, a few classes, or a number."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"


class Treatment(str, enum.Enum):
    """How preprocessing turns a raw column into model inputs."""

    NUMERIC = "numeric"          # z-score, plus quantile buckets (buckets: 0, none)
    BUCKETIZED = "bucketized"    # quantile buckets only (coordinates, skewed counts)
    CATEGORICAL = "categorical"  # integer ids 0..max_value-1, clipped
    VOCABULARY = "vocabulary"    # strings (or integers as strings) through a computed vocabulary
    HASHED = "hashed"            # high-cardinality strings hashed into buckets


@dataclass(frozen=True)
class Metric:
    """A metric the Evaluator computes: the name users write, TFMA's class and its output key;
    `needs_both_classes` when it ranks positives against negatives (undefined on one class, where
    TFMA still reports a number)."""

    name: str
    tfma_class: str
    tfma_key: str
    higher_is_better: bool
    needs_both_classes: bool = False


# The metrics each task reports, by the short name a declaration uses. The first is the primary one.
TASK_METRICS: dict[Task, tuple[Metric, ...]] = {
    Task.BINARY: (
        Metric("auc", "AUC", "auc", True, needs_both_classes=True),
        Metric("pr_auc", "AUCPrecisionRecall", "auc_precision_recall", True, needs_both_classes=True),
        Metric("accuracy", "BinaryAccuracy", "binary_accuracy", True),
        Metric("precision", "Precision", "precision", True),
        Metric("recall", "Recall", "recall", True),
        Metric("calibration", "Calibration", "calibration", True),
    ),
    Task.MULTICLASS: (
        Metric("accuracy", "SparseCategoricalAccuracy", "sparse_categorical_accuracy", True),
        Metric("log_loss", "SparseCategoricalCrossentropy", "sparse_categorical_crossentropy", False),
    ),
    Task.REGRESSION: (
        Metric("rmse", "RootMeanSquaredError", "root_mean_squared_error", False),
        Metric("mae", "MeanAbsoluteError", "mean_absolute_error", False),
    ),
}


# TFMA's key of the MeanLabel diagnostic: 0 or 1 on a binary slice means it holds one class only.
MEAN_LABEL_KEY = "mean_label"
# Slices with fewer examples than this are flagged as too small to judge (`metrics.min_slice_examples`).
MIN_SLICE_EXAMPLES = 30
ONE_CLASS = "one class"
UNDEFINED = "undefined"


@dataclass(frozen=True)
class Feature:
    """One raw column the model reads, and how it is treated."""

    name: str
    treatment: Treatment
    buckets: int = 10        # numeric / bucketized: quantile buckets; hashed: hash buckets
    max_value: int = 0       # categorical: ids 0..max_value-1
    top_k: int = 1000        # vocabulary: most frequent values kept
    oov_buckets: int = 10    # vocabulary: buckets for values outside it


@dataclass(frozen=True)
class Threshold:
    """A blessing bound on one metric of the overall slice."""

    metric: str
    lower: float | None = None
    upper: float | None = None


class PromotionMode(str, enum.Enum):
    """How a newly blessed model reaches `stable`: through a canary proven on live labels, or at once."""

    CANARY = "canary"
    DIRECT = "direct"


@dataclass(frozen=True)
class Promotion:
    """The `promotion:` section: the mode, and how many labelled rows a canary needs to be promoted."""

    mode: PromotionMode = PromotionMode.DIRECT
    min_labelled_rows: int = 100


@dataclass(frozen=True)
class Tolerance:
    """How far a re-run's float may move from the recorded one: |a - b| <= abs + rel * max(|a|, |b|).

    Both zero means exact. NaN matches only NaN, an infinity only the same infinity.
    """

    abs: float = 0.0
    rel: float = 0.0

    @property
    def exact(self) -> bool:
        return self.abs == 0.0 and self.rel == 0.0

    def bound(self, a: float, b: float) -> float:
        """The largest difference allowed between these two values."""
        return self.abs + self.rel * max(abs(a), abs(b))

    def allows(self, a: float, b: float) -> bool:
        """Whether b is within this tolerance of a."""
        if a == b or (math.isnan(a) and math.isnan(b)):
            return True
        if not (math.isfinite(a) and math.isfinite(b)):
            return False
        return abs(a - b) <= self.bound(a, b)

    def describe(self) -> str:
        """'exact' or '1e-05 abs + 1e-05 rel'."""
        return "exact" if self.exact else f"{self.abs:.3g} abs + {self.rel:.3g} rel"


# Defaults from measured re-runs of the same config (docs/continuous_training.md, Reproducibility):
# float64 analyzers leave transformed floats and metrics identical run to run in in_memory mode; the
# bounds are margins for what stays float32 (TFMA's sums, float32 rounding at boundaries).
TRANSFORMED_TOLERANCE = Tolerance(abs=1e-5, rel=1e-5)
METRICS_TOLERANCE = Tolerance(abs=1e-4, rel=1e-4)


@dataclass(frozen=True)
class Reproducibility:
    """What `reproduce` holds a re-run's outputs to: examples always exactly; transformed floats and
    eval metrics within their tolerances (integers and strings of transformed examples exactly)."""

    transformed: Tolerance = TRANSFORMED_TOLERANCE
    metrics: Tolerance = METRICS_TOLERANCE


@dataclass(frozen=True)
class DriftThresholds:
    """How `monitor` and the span validator set each feature's threshold: `factor` times the
    distance honest samples of the training data already show at the sizes compared, never
    below `floor` (docs/continuous_training.md, docs/data_validation.md)."""

    factor: float = 1.5
    floor: float = 0.02


class DriftPolicy(str, enum.Enum):
    """What a run does when a feature drifted between spans: train on (and alert), or stop for a
    human to accept the drift (`python -m pipeline accept-drift`)."""

    RETRAIN = "retrain"
    STOP = "stop"


class ThresholdRule(str, enum.Enum):
    """How a binary model's decision threshold is chosen on the training split."""

    MAX_F1 = "max_f1"              # the cut with the highest F1
    PRECISION_AT = "precision_at"  # the lowest cut whose precision reaches `value` (most recall)
    RECALL_AT = "recall_at"        # the highest cut whose recall reaches `value` (most precision)
    FIXED = "fixed"                # `value` itself


@dataclass(frozen=True)
class ThresholdDeclaration:
    """The `decision_threshold:` field of a binary project: the rule, and its target or cut."""

    rule: ThresholdRule = ThresholdRule.FIXED
    value: float | None = 0.5

    def describe(self) -> str:
        """'max_f1', 'precision_at 0.8' or 'fixed 0.5'."""
        return self.rule.value if self.value is None else f"{self.rule.value} {self.value:g}"


# A share of empty cells (or of categories the schema does not know) above which a column is broken
# data that stops the run rather than a world that changed (docs/data_validation.md).
MAX_MISSING_SHARE = 0.05
MAX_UNKNOWN_SHARE = 0.05


@dataclass(frozen=True)
class DataLimits:
    """The `validation:` section: where value skew (recorded, reported) ends and schema skew (a
    stop before Transform) begins, and what value drift between spans does."""

    max_missing_share: float = MAX_MISSING_SHARE
    max_unknown_share: float = MAX_UNKNOWN_SHARE
    drift: DriftPolicy = DriftPolicy.RETRAIN


# The declaration fields user code (preprocessing_fn, run_fn) receives; the rest (data, slices,
# thresholds, steps, hyperparameters: the Trainer gets those apart) take their defaults there.
CODE_FIELDS = ("name", "label", "task", "features", "positive_class", "classes", "weight",
               "label_columns")


@dataclass(frozen=True)
class Project:
    """A parsed, validated declaration. `label_columns` are the CSV columns the label is computed
    from (the label column itself unless a project's own preprocessing_fn derives it)."""

    name: str
    data: str
    label: str
    task: Task
    features: tuple[Feature, ...]
    schema: str | None = None
    positive_class: str | None = None
    classes: tuple[str, ...] = ()
    weight: str | None = None
    label_columns: tuple[str, ...] = ()
    excluded: dict[str, str] = field(default_factory=dict)
    id_column: str | None = None
    slices: tuple[str, ...] = ()
    thresholds: tuple[Threshold, ...] = ()
    no_worse_than_serving: str | None = None
    min_slice_examples: int = MIN_SLICE_EXAMPLES
    # How far the primary metric may fall behind the linear baseline on the same split (absolute
    # for scores, a share of the baseline's value for errors); None: no baseline gate.
    baseline_margin: float | None = None
    train_steps: int = 1000
    eval_steps: int = 100
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    preprocessing_fn: str = "models.common.preprocessing.preprocessing_fn"
    run_fn: str = "models.common.model.run_fn"
    reproducibility: Reproducibility = field(default_factory=Reproducibility)
    drift_thresholds: DriftThresholds = field(default_factory=DriftThresholds)
    live_bounds: tuple[Threshold, ...] = ()
    promotion: Promotion = field(default_factory=Promotion)
    validation: DataLimits = field(default_factory=DataLimits)
    # Binary: how the class cut is chosen on the training split (absent: fixed at 0.5).
    decision_threshold: ThresholdDeclaration = field(default_factory=ThresholdDeclaration)
    directory: Path | None = None

    @property
    def metrics(self) -> tuple[Metric, ...]:
        """Every metric this task reports, the primary one first."""
        return TASK_METRICS[self.task]

    @property
    def primary_metric(self) -> Metric:
        """The metric summaries lead with and the baseline comparison uses by default."""
        return self.metric(self.no_worse_than_serving) if self.no_worse_than_serving else self.metrics[0]

    def metric(self, name: str) -> Metric:
        """A metric of this task by its short name."""
        for metric in self.metrics:
            if metric.name == name:
                return metric
        known = ", ".join(m.name for m in self.metrics)
        raise ProjectError(f"project {self.name}: no metric '{name}' for a {self.task.value} task "
                           f"(known: {known})")

    def named_metrics(self, computed: Mapping[str, float]) -> dict[str, float]:
        """The task's metrics by their short names, from TFMA's output keys (absent ones left out,
        undefined ones NaN)."""
        defined = self.defined_metrics(computed)
        return {m.name: defined[m.tfma_key] for m in self.metrics if m.tfma_key in defined}

    def undefined_metrics(self, computed: Mapping[str, float]) -> dict[str, str]:
        """TFMA keys whose value means nothing on this slice, and why: 'one class' for a ranking
        metric on a binary slice whose labels are all one class (TFMA reports AUC 0 there; listed
        first), 'undefined' for a NaN."""
        reasons: dict[str, str] = {}
        mean_label = computed.get(MEAN_LABEL_KEY)
        if self.task is Task.BINARY and mean_label is not None and float(mean_label) in (0.0, 1.0):
            reasons.update({m.tfma_key: ONE_CLASS for m in self.metrics
                            if m.needs_both_classes and m.tfma_key in computed})
        reasons.update({key: UNDEFINED for key, value in computed.items()
                        if key not in reasons and math.isnan(float(value))})
        return reasons

    def defined_metrics(self, computed: Mapping[str, float]) -> dict[str, float]:
        """TFMA's values with every undefined one (undefined_metrics) as NaN, never a number."""
        undefined = self.undefined_metrics(computed)
        return {key: math.nan if key in undefined else float(value) for key, value in computed.items()}

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Raw columns a client sends at serving time, in declaration order."""
        return tuple(f.name for f in self.features)

    @property
    def label_values(self) -> tuple[str, ...]:
        """Class names in index order (binary: negative then positive); empty for regression."""
        return self.classes

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, passed to Transform and the Trainer as custom_config."""
        values = dataclasses.asdict(self)
        # Where the declaration lies is not part of it: the same project moved gives the same keys.
        values["directory"] = None
        return json.loads(json.dumps(values, default=_enum_value))

    def code_view(self) -> dict[str, Any]:
        """The fields preprocessing and model code read (CODE_FIELDS), passed to Transform and the
        Trainer as custom_config: thresholds, slices or steps are not in their cache keys."""
        values = self.to_dict()
        return {name: values[name] for name in CODE_FIELDS}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Project:
        """Rebuild from to_dict() (inside Transform and Trainer, where only custom_config arrives)."""
        values = {"data": "", **values}
        values["task"] = Task(values["task"])
        values["features"] = tuple(
            Feature(**{**f, "treatment": Treatment(f["treatment"])}) for f in values["features"])
        values["thresholds"] = tuple(Threshold(**t) for t in values.get("thresholds", ()))
        values["live_bounds"] = tuple(Threshold(**t) for t in values.get("live_bounds", ()))
        promotion = values.get("promotion") or {}
        values["promotion"] = Promotion(PromotionMode(promotion.get("mode", "direct")),
                                        int(promotion.get("min_labelled_rows", 100)))
        for key in ("classes", "slices", "label_columns"):
            values[key] = tuple(values.get(key, ()))
        values["directory"] = Path(values["directory"]) if values.get("directory") else None
        # Absent from what runs recorded before the section existed: the defaults.
        bounds = values.get("reproducibility") or {}
        values["reproducibility"] = Reproducibility(
            **{item: Tolerance(**bound) for item, bound in bounds.items()})
        values["drift_thresholds"] = DriftThresholds(**(values.get("drift_thresholds") or {}))
        limits = values.get("validation") or {}
        values["validation"] = DataLimits(**{**limits, **(
            {"drift": DriftPolicy(limits["drift"])} if "drift" in limits else {})})
        values["decision_threshold"] = threshold_declaration(values.get("decision_threshold"))
        return cls(**values)


def threshold_declaration(values: Mapping[str, Any] | None) -> ThresholdDeclaration:
    """A ThresholdDeclaration from its to_dict() form (the default when absent)."""
    if not values:
        return ThresholdDeclaration()
    return ThresholdDeclaration(ThresholdRule(values["rule"]), values.get("value"))


def _enum_value(value: object) -> object:
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"not JSON serializable: {value!r}")


# --- the YAML declaration ------------------------------------------------------------------------

_TOP_LEVEL = {"name", "data", "schema", "label", "label_columns", "task", "positive_class", "classes",
              "weight", "id_column",
              "features", "excluded", "slices", "metrics", "training", "user_code", "reproducibility",
              "drift_thresholds", "monitoring", "promotion", "validation", "decision_threshold"}
_REPRODUCIBLE_ITEMS = ("examples", "transformed", "metrics")


def declaration_path(name: str, models_dir: Path) -> Path:
    """Where a project's declaration lives."""
    return models_dir / name / DECLARATION_FILE


def project_names(models_dir: Path) -> list[str]:
    """Every project with a declaration under models_dir, sorted."""
    return sorted(p.parent.name for p in models_dir.glob(f"*/{DECLARATION_FILE}"))


def load_project(name: str, models_dir: Path) -> Project:
    """Read and validate models/<name>/project.yaml; a missing or invalid one is a ProjectError."""
    path = declaration_path(name, models_dir)
    if not path.is_file():
        known = project_names(models_dir)
        raise ProjectError(f"no project '{name}': {path} does not exist (projects: "
                           f"{', '.join(known) or 'none'}; create one with python -m pipeline init)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ProjectError(f"{path} is not UTF-8 text: {error}") from error
    return parse_declaration(text, path)


def parse_declaration(text: str, path: Path) -> Project:
    """A Project from the declaration's YAML text; every problem names the file and the field."""
    import yaml

    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ProjectError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(values, dict):
        raise ProjectError(f"{path}: expected a mapping of fields, got {type(values).__name__}")
    unknown = sorted(set(values) - _TOP_LEVEL)
    _check(not unknown, path, "fields", f"unknown {unknown}; allowed: {sorted(_TOP_LEVEL)}")
    try:
        project = _build(values, path)
    except (TypeError, ValueError) as error:
        raise ProjectError(f"{path}: {error}") from error
    _validate(project, path)
    return project


def _build(values: dict[str, Any], path: Path) -> Project:
    """Typed fields from the YAML mapping."""
    for required in ("name", "data", "label", "task", "features"):
        _check(values.get(required) not in (None, "", []), path, required, "is required")
    task = _enum(Task, values["task"], path, "task")
    metrics = values.get("metrics") or {}
    training = values.get("training") or {}
    code = values.get("user_code") or {}
    classes = tuple(str(c) for c in values.get("classes") or ())
    return Project(
        name=str(values["name"]),
        data=str(values["data"]),
        schema=None if values.get("schema") in (None, "infer") else str(values["schema"]),
        label=str(values["label"]),
        task=task,
        positive_class=None if values.get("positive_class") is None else str(values["positive_class"]),
        classes=classes,
        weight=values.get("weight"),
        label_columns=tuple(str(c) for c in values.get("label_columns") or [values["label"]]),
        features=tuple(_feature(name, spec, path) for name, spec in _mapping(values, "features", path)),
        excluded={str(k): str(v) for k, v in _mapping(values, "excluded", path)},
        id_column=None if values.get("id_column") in (None, "") else str(values["id_column"]),
        slices=tuple(str(s) for s in values.get("slices") or ()),
        thresholds=tuple(_threshold(name, spec, path)
                         for name, spec in _mapping(metrics, "thresholds", path)),
        no_worse_than_serving=metrics.get("no_worse_than_serving"),
        min_slice_examples=int(metrics.get("min_slice_examples", MIN_SLICE_EXAMPLES)),
        baseline_margin=_margin(metrics.get("baseline_margin"), path),
        train_steps=int(training.get("train_steps", 1000)),
        eval_steps=int(training.get("eval_steps", 100)),
        hyperparameters=dict(training.get("hyperparameters") or {}),
        preprocessing_fn=str(code.get("preprocessing_fn", Project.preprocessing_fn)),
        run_fn=str(code.get("run_fn", Project.run_fn)),
        reproducibility=_reproducibility(values.get("reproducibility"), path),
        drift_thresholds=_drift_thresholds(values.get("drift_thresholds"), path),
        live_bounds=_live_bounds(values.get("monitoring"), path),
        promotion=_promotion(values.get("promotion"), path),
        validation=_data_limits(values.get("validation"), path),
        decision_threshold=_decision_threshold(values.get("decision_threshold"), task, path),
        directory=path.parent,
    )


def _mapping(values: Mapping[str, Any], key: str, path: Path) -> list[tuple[str, Any]]:
    """The items of a mapping field (empty when absent)."""
    value = values.get(key) or {}
    _check(isinstance(value, dict), path, key, f"must be a mapping, got {type(value).__name__}")
    return [(str(k), v) for k, v in value.items()]


def _feature(name: str, spec: Any, path: Path) -> Feature:
    """One `features:` entry: `name: treatment` or `name: {treatment: ..., buckets: ...}`."""
    spec = {"treatment": spec} if isinstance(spec, str) else dict(spec or {})
    treatment = _enum(Treatment, spec.pop("treatment", None), path, f"features.{name}.treatment")
    allowed = {f.name for f in dataclasses.fields(Feature)} - {"name", "treatment"}
    unknown = sorted(set(spec) - allowed)
    _check(not unknown, path, f"features.{name}", f"unknown {unknown}; allowed: {sorted(allowed)}")
    feature = Feature(name=name, treatment=treatment, **{k: int(v) for k, v in spec.items()})
    if treatment is Treatment.CATEGORICAL:
        _check(feature.max_value > 0, path, f"features.{name}.max_value", "must be > 0")
    if treatment is Treatment.NUMERIC:
        _check(feature.buckets == 0 or feature.buckets > 1, path, f"features.{name}.buckets",
               "must be 0 (z-score only) or > 1")
    else:
        _check(feature.buckets > 1, path, f"features.{name}.buckets", "must be > 1")
    _check(feature.top_k > 0 and feature.oov_buckets > 0, path, f"features.{name}",
           "top_k and oov_buckets must be > 0")
    return feature


def _threshold(metric: str, spec: Any, path: Path, section: str = "metrics.thresholds") -> Threshold:
    """One bound: `metric: {min: x}` and/or `{max: y}`."""
    spec = {} if spec is None else spec
    _check(isinstance(spec, dict), path, f"{section}.{metric}", "must be {min: x} and/or {max: y}")
    unknown = sorted(set(spec) - {"min", "max"})
    _check(not unknown, path, f"{section}.{metric}", f"unknown {unknown}; use min and/or max")
    _check(bool(spec), path, f"{section}.{metric}", "needs min or max")
    return Threshold(metric, _number(spec.get("min")), _number(spec.get("max")))


def _margin(value: Any, path: Path) -> float | None:
    """`metrics.baseline_margin`: a number >= 0, or absent."""
    if value is None:
        return None
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    _check(number is not None and math.isfinite(number) and number >= 0, path, "metrics.baseline_margin",
           f"must be a number >= 0, got {value!r}")
    return float(value)
def _decision_threshold(spec: Any, task: Task, path: Path) -> ThresholdDeclaration:
    """`decision_threshold: {rule: max_f1}`, `{rule: precision_at|recall_at, value: share}` or
    `{rule: fixed, value: cut}`; binary projects only; absent: fixed at 0.5."""
    if spec is None:
        return ThresholdDeclaration()
    field_name = "decision_threshold"
    _check(task is Task.BINARY, path, field_name, f"only a binary task has one (this is {task.value})")
    _check(isinstance(spec, dict), path, field_name,
           "must be {rule: max_f1|precision_at|recall_at|fixed, value: number}")
    unknown = sorted(set(spec) - {"rule", "value"})
    _check(not unknown, path, field_name, f"unknown {unknown}; allowed: rule, value")
    rule = _enum(ThresholdRule, spec.get("rule"), path, f"{field_name}.rule")
    value = spec.get("value")
    if rule is ThresholdRule.MAX_F1:
        _check(value is None, path, f"{field_name}.value", "max_f1 takes no value")
        return ThresholdDeclaration(rule, None)
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    _check(number is not None and 0 < number < 1 if rule is ThresholdRule.FIXED
           else number is not None and 0 < number <= 1, path, f"{field_name}.value",
           f"{rule.value} needs a value in {'(0, 1)' if rule is ThresholdRule.FIXED else '(0, 1]'}, "
           f"got {value!r}")
    return ThresholdDeclaration(rule, float(value))


def _live_bounds(spec: Any, path: Path) -> tuple[Threshold, ...]:
    """The `monitoring:` section's `live:` bounds, `metric: {min: x}` and/or `{max: y}`, that
    `feedback` holds live metrics to (absent: no live bound)."""
    if spec is None:
        return ()
    _check(isinstance(spec, dict), path, "monitoring", f"must be a mapping, got {type(spec).__name__}")
    unknown = sorted(set(spec) - {"live"})
    _check(not unknown, path, "monitoring", f"unknown {unknown}; allowed: ['live']")
    return tuple(_threshold(name, bound, path, "monitoring.live")
                 for name, bound in _mapping(spec, "live", path))


def _promotion(spec: Any, path: Path) -> Promotion:
    """The `promotion:` section: `mode: canary|direct` and `min_labelled_rows: N` (> 0)."""
    if spec is None:
        return Promotion()
    _check(isinstance(spec, dict), path, "promotion", f"must be a mapping, got {type(spec).__name__}")
    unknown = sorted(set(spec) - {"mode", "min_labelled_rows"})
    _check(not unknown, path, "promotion", f"unknown {unknown}; allowed: mode, min_labelled_rows")
    mode = _enum(PromotionMode, spec.get("mode", "direct"), path, "promotion.mode")
    rows = spec.get("min_labelled_rows", Promotion.min_labelled_rows)
    _check(isinstance(rows, int) and not isinstance(rows, bool) and rows > 0, path,
           "promotion.min_labelled_rows", f"must be a whole number > 0, got {rows!r}")
    return Promotion(mode, rows)


def _reproducibility(spec: Any, path: Path) -> Reproducibility:
    """The `reproducibility:` section: `examples: exact`, and `transformed` and `metrics` each
    `exact` or `{abs: x, rel: y}` (a missing key is 0); absent items keep their defaults."""
    if spec is None:
        return Reproducibility()
    _check(isinstance(spec, dict), path, "reproducibility", f"must be a mapping, got {type(spec).__name__}")
    unknown = sorted(set(spec) - set(_REPRODUCIBLE_ITEMS))
    _check(not unknown, path, "reproducibility", f"unknown {unknown}; allowed: {list(_REPRODUCIBLE_ITEMS)}")
    _check(spec.get("examples", "exact") == "exact", path, "reproducibility.examples",
           "examples are compared exactly (only 'exact' is allowed)")
    return Reproducibility(**{item: _tolerance(spec[item], path, f"reproducibility.{item}")
                              for item in ("transformed", "metrics") if item in spec})


def _drift_thresholds(spec: Any, path: Path) -> DriftThresholds:
    """The `drift_thresholds:` section: `factor` (> 0) and `floor` (>= 0); absent keys keep
    their defaults."""
    if spec is None:
        return DriftThresholds()
    _check(isinstance(spec, dict), path, "drift_thresholds",
           f"must be a mapping, got {type(spec).__name__}")
    unknown = sorted(set(spec) - {"factor", "floor"})
    _check(not unknown, path, "drift_thresholds", f"unknown {unknown}; use factor and/or floor")
    values = {key: _finite(spec[key], path, f"drift_thresholds.{key}") for key in spec}
    thresholds = DriftThresholds(**values)
    _check(thresholds.factor > 0, path, "drift_thresholds.factor", "must be > 0")
    _check(thresholds.floor >= 0, path, "drift_thresholds.floor", "must be >= 0")
    return thresholds


def _finite(value: Any, path: Path, field_name: str) -> float:
    """A finite number, or a ProjectError naming the field."""
    _check(isinstance(value, int | float) and not isinstance(value, bool)
           and math.isfinite(value), path, field_name, f"must be a finite number, got {value!r}")
    return float(value)
def _data_limits(spec: Any, path: Path) -> DataLimits:
    """The `validation:` section: `max_missing_share` and `max_unknown_share` (shares in 0..1) and
    `drift: retrain|stop`; absent keys keep their defaults."""
    if spec is None:
        return DataLimits()
    _check(isinstance(spec, dict), path, "validation", f"must be a mapping, got {type(spec).__name__}")
    allowed = [f.name for f in dataclasses.fields(DataLimits)]
    unknown = sorted(set(spec) - set(allowed))
    _check(not unknown, path, "validation", f"unknown {unknown}; allowed: {allowed}")
    shares = {key: _number(spec[key]) for key in allowed[:2] if key in spec}
    for key, share in shares.items():
        _check(share is not None and 0.0 <= share < 1.0, path, f"validation.{key}",
               f"must be a share in [0, 1), got {spec[key]!r}")
    drift = _enum(DriftPolicy, spec.get("drift", "retrain"), path, "validation.drift")
    return DataLimits(drift=drift, **shares)  # type: ignore[arg-type]


def _tolerance(spec: Any, path: Path, field_name: str) -> Tolerance:
    """`exact` or `{abs: x, rel: y}` with non-negative numbers."""
    if spec == "exact":
        return Tolerance()
    _check(isinstance(spec, dict), path, field_name, "must be 'exact' or {abs: x, rel: y}")
    unknown = sorted(set(spec) - {"abs", "rel"})
    _check(not unknown, path, field_name, f"unknown {unknown}; use abs and/or rel")
    bound = Tolerance(float(spec.get("abs", 0.0)), float(spec.get("rel", 0.0)))
    _check(min(bound.abs, bound.rel) >= 0 and math.isfinite(bound.abs + bound.rel), path, field_name,
           "abs and rel must be finite and >= 0")
    return bound


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _enum(kind: type[enum.Enum], value: Any, path: Path, field_name: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(str(member.value) for member in kind)
        raise ProjectError(f"{path}: {field_name}: {value!r} is not one of {allowed}") from None


def _check(condition: bool, path: Path, field_name: str, message: str) -> None:
    if not condition:
        raise ProjectError(f"{path}: {field_name}: {message}")


def _validate(project: Project, path: Path) -> None:
    """Cross-field rules: names, classes by task, slices and thresholds that exist."""
    names = project.feature_names
    _check(len(set(names)) == len(names), path, "features", "a column is listed twice")
    _check(project.label not in names, path, "label", f"'{project.label}' is also a feature")
    _check(not set(project.excluded) & set(names), path, "excluded",
           f"{sorted(set(project.excluded) & set(names))} also listed as features")
    _check(project.id_column is None or project.id_column not in (*names, project.label), path,
           "id_column", f"'{project.id_column}' is also a feature or the label")
    missing = [s for s in project.slices if s not in names]
    _check(not missing, path, "slices", f"{missing} are not features")
    if project.task is Task.BINARY:
        _check(len(project.classes) == 2, path, "classes",
               "a binary task lists its two label values, negative first")
        _check(project.positive_class == project.classes[1], path, "positive_class",
               f"must be the second of classes {list(project.classes)}")
    elif project.task is Task.MULTICLASS:
        _check(len(project.classes) >= 2 and len(set(project.classes)) == len(project.classes),
               path, "classes", "a multiclass task lists its distinct label values")
    else:
        _check(not project.classes, path, "classes", "a regression task has no classes")
    known = [m.name for m in project.metrics]
    named = [("metrics", t.metric) for t in project.thresholds]
    named += [("metrics", project.no_worse_than_serving or "")]
    named += [("monitoring.live", t.metric) for t in project.live_bounds]
    for section, name in named:
        _check(not name or name in known, path, section,
               f"no metric '{name}' for a {project.task.value} task (known: {', '.join(known)})")
    _check(project.min_slice_examples >= 0, path, "metrics.min_slice_examples", "must be >= 0")
    _check(project.train_steps > 0 and project.eval_steps > 0, path, "training",
           "train_steps and eval_steps must be > 0")


def declaration_text(project: Project) -> str:
    """The YAML a project is written as (by `init`), with comments a reviewer needs."""
    import yaml

    features = {f.name: _feature_yaml(f) for f in project.features}
    body: dict[str, Any] = {
        "name": project.name, "data": project.data, "schema": project.schema or "infer",
        "label": project.label, "task": project.task.value,
    }
    if project.task is not Task.REGRESSION:
        body["classes"] = list(project.classes)
    if project.task is Task.BINARY:
        body["positive_class"] = project.positive_class
    if project.weight:
        body["weight"] = project.weight
    if project.label_columns and project.label_columns != (project.label,):
        body["label_columns"] = list(project.label_columns)
    if project.id_column:
        body["id_column"] = project.id_column
    body["features"] = features
    if project.excluded:
        body["excluded"] = dict(project.excluded)
    body["slices"] = list(project.slices)
    body["metrics"] = {
        "thresholds": {t.metric: {k: v for k, v in (("min", t.lower), ("max", t.upper)) if v is not None}
                       for t in project.thresholds},
        "no_worse_than_serving": project.primary_metric.name,
        "min_slice_examples": project.min_slice_examples,
        **({} if project.baseline_margin is None else {"baseline_margin": project.baseline_margin}),
    }
    if project.live_bounds:
        body["monitoring"] = {"live": {
            t.metric: {k: v for k, v in (("min", t.lower), ("max", t.upper)) if v is not None}
            for t in project.live_bounds}}
    if project.promotion != Promotion():
        body["promotion"] = {"mode": project.promotion.mode.value,
                             "min_labelled_rows": project.promotion.min_labelled_rows}
    if project.task is Task.BINARY:
        body["decision_threshold"] = {"rule": project.decision_threshold.rule.value, **(
            {} if project.decision_threshold.value is None
            else {"value": project.decision_threshold.value})}
    body["training"] = {"train_steps": project.train_steps, "eval_steps": project.eval_steps,
                        "hyperparameters": dict(project.hyperparameters)}
    code = {key: getattr(project, key) for key in ("preprocessing_fn", "run_fn")
            if getattr(project, key) != getattr(Project, key)}
    if code:
        body["user_code"] = code
    body["reproducibility"] = {"examples": "exact", **{
        item: "exact" if bound.exact else {"abs": bound.abs, "rel": bound.rel}
        for item, bound in (("transformed", project.reproducibility.transformed),
                            ("metrics", project.reproducibility.metrics))}}
    body["drift_thresholds"] = dataclasses.asdict(project.drift_thresholds)
    header = (f"# Declaration of project '{project.name}': read by preprocessing, the model, the "
              "Evaluator, serving and every report.\n# Review it, edit it by hand, then: "
              f"python -m pipeline run --project {project.name}\n")
    # One block per field; a feature's settings and short lists stay on one line each.
    inline = ("features", "classes", "slices", "label_columns", "reproducibility", "drift_thresholds",
              "decision_threshold")
    blocks = [
        yaml.safe_dump({key: value}, sort_keys=False, width=100,
                       default_flow_style=None if key in inline else False)
        for key, value in body.items()
    ]
    return header + "".join(blocks)


def _feature_yaml(feature: Feature) -> dict[str, Any] | str:
    """Only the settings a treatment uses, so the file stays short."""
    used = {Treatment.NUMERIC: ("buckets",), Treatment.BUCKETIZED: ("buckets",),
            Treatment.CATEGORICAL: ("max_value",), Treatment.VOCABULARY: ("top_k", "oov_buckets"),
            Treatment.HASHED: ("buckets",)}[feature.treatment]
    return {"treatment": feature.treatment.value, **{k: getattr(feature, k) for k in used}}
