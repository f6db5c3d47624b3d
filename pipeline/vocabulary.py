"""The platform's shared names, declared once: every layer, user code, benchmarks and tools import them.

Component ids and output keys (as ML Metadata, Airflow and Kubeflow record them), artifact file
and split names, serving signature names, the key names preprocessing, the model, the Evaluator
and serving agree on, and the types that describe a run before it runs (RunManifest). Standard
library only: importing it loads neither TensorFlow nor any other layer of the pipeline.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

# Component ids: node ids in ML Metadata, Airflow task ids and Kubeflow task names. Recorded
# history and every runner know them; they must not change.
EXAMPLE_GEN = "CsvExampleGen"
RECORD_RUN_CONTEXT = "RecordRunContext"
STATISTICS_GEN = "StatisticsGen"
SCHEMA_GEN = "SchemaGen"
CURATED_SCHEMA = "ImportCuratedSchema"
PREVIOUS_STATISTICS_RESOLVER = "previous_span_statistics"
EXAMPLE_VALIDATOR = "ExampleValidator"
DATA_GATE = "DataGate"
ANALYZER_CACHE_RESOLVER = "latest_analyzer_cache_resolver"
TRANSFORM = "Transform"
TRAINER = "Trainer"
BASELINE = "Baseline"
BLESSED_MODEL_RESOLVER = "latest_blessed_model_resolver"
EVALUATOR = "Evaluator"
PUSHER = "ServingPusher"

# Output keys of those components (event path keys in ML Metadata).
EXAMPLES_KEY = "examples"
RUN_CONTEXT_KEY = "run_context"
STATISTICS_KEY = "statistics"
SCHEMA_KEY = "schema"
ANOMALIES_KEY = "anomalies"
VALIDATED_SCHEMA_KEY = "validated_schema"
# What the validators and the DataGate record in ML Metadata (pipeline.data.validation.Verdict):
# drift measured against the previous span (on the anomalies and the validated schema), value skew
# (on the validated schema), and a drift a human accepted (`accept-drift`, on the anomalies).
DRIFT_PROPERTY = "drift"
# Every declared feature's calibrated distance to the previous span, drifted or not (validators).
DRIFT_CHECKS_PROPERTY = "drift_checks"
VALUE_SKEW_PROPERTY = "value_skew"
DRIFT_ACCEPTED_PROPERTY = "drift_accepted"
# Why a run happened, a custom property of its run context in ML Metadata (run/run_reason.py): one
# of the kinds, alone or followed by ": " and the finding (`drift alert: fare, payment_type`).
RUN_REASON_PROPERTY = "run_reason"
REASON_SCHEDULE = "schedule"
REASON_BY_HAND = "by hand"
REASON_DRIFT = "drift alert"
REASON_DEGRADATION = "live degradation"
# The key of an Airflow DAG run's conf that names the reason of a triggered run.
REASON_CONF_KEY = "reason"
ANALYZER_CACHE_KEY = "analyzer_cache"
# Transform's custom_config key: write the analyzer cache (only runs with --analyzer-cache read one).
WRITE_ANALYZER_CACHE = "write_analyzer_cache"
TRANSFORM_GRAPH_KEY = "transform_graph"
TRANSFORMED_EXAMPLES_KEY = "transformed_examples"
MODEL_KEY = "model"
MODEL_RUN_KEY = "model_run"
BASELINE_METRICS_KEY = "baseline_metrics"
BASELINE_MODEL_KEY = "baseline_model"
BLESSING_KEY = "blessing"
EVALUATION_KEY = "evaluation"
PUSHED_MODEL_KEY = "pushed_model"

# Artifact files and split folders.
SCHEMA_FILE = "schema.pbtxt"
STATISTICS_FILE = "FeatureStats.pb"
ANOMALIES_FILE = "SchemaDiff.pb"
TRAINING_LOG_FILE = "training_log.json"
# Beside a binary model (in its assets.extra, which TF Serving ignores): the decision threshold chosen
# on the training split (DecisionThreshold as JSON); and the custom property of the Trainer's model
# artifact recording the same JSON in ML Metadata.
EXTRA_ASSETS_DIR = "assets.extra"
DECISION_THRESHOLD_FILE = "decision_threshold.json"
DECISION_THRESHOLD_PROPERTY = "decision_threshold"
# The class cut a binary model without a recorded threshold (pushed before they existed) is read at.
DEFAULT_DECISION_THRESHOLD = 0.5
# In a pipeline root and a served model's folder: which ML Metadata store owns it (run/store_owner.py).
STORE_OWNER_FILE = ".mlmd-store.json"
BASELINE_FILE = "baseline.json"
# Custom properties (JSON) of the Baseline's output: each reference model's metrics, and the bound
# the declared margin sets; and of the blessing: the bound the Evaluator applied.
BASELINE_METRICS_PROPERTY = "metrics"
BASELINE_GATE_PROPERTY = "gate"
# Rows the reference models were fitted on and scored on, and the fitting cap (JSON).
BASELINE_ROWS_PROPERTY = "rows"
BLESSING_BASELINE_GATE = "baseline_gate"
# Blessing property: the URI of the baseline's recorded evaluation the comparison reused (absent
# when TFMA scored the baseline itself).
BLESSING_REUSED_EVALUATION = "reused_baseline_evaluation"
TRAIN_SPLIT = "train"
EVAL_SPLIT = "eval"
SPLIT_PREFIX = "Split-"
# The artifact property TFX keeps an Examples (or statistics, anomalies) artifact's span in.
SPAN_PROPERTY = "span"

# Serving signatures of an exported model, and their input (serialized tf.Examples).
SERVING_SIGNATURE = "serving_default"
RAW_SIGNATURE = "serving_raw"
TRANSFORM_SIGNATURE = "transform_features"
SERVING_INPUT = "examples"

# Transform outputs the platform reads too: the label, the weight and (regression) the target's scale.
TRANSFORMED_SUFFIX = "_xf"
WEIGHT_KEY = "example_weight_xf"
LABEL_MEAN_KEY = "label_mean_xf"
LABEL_STD_KEY = "label_std_xf"

# Outputs of the serving signatures, by task. The Evaluator's ModelSpec.prediction_key is
# prediction_key(task): multiclass signatures return both probabilities and class names.
PROBABILITIES_OUTPUT = "probabilities"   # binary [batch, 1] positive class; multiclass [batch, n]
CLASSES_OUTPUT = "classes"               # multiclass [batch] name of the most likely class
PREDICTION_OUTPUT = "prediction"         # regression [batch, 1] in the target's original units
TASK_OUTPUTS = {
    "binary": (PROBABILITIES_OUTPUT,),
    "multiclass": (PROBABILITIES_OUTPUT, CLASSES_OUTPUT),
    "regression": (PREDICTION_OUTPUT,),
}


def score_columns(task: str, classes: tuple[str, ...]) -> tuple[str, ...]:
    """The outputs a batch scoring writes per row: each class's probability and the class, or the
    prediction (regression)."""
    if PREDICTION_OUTPUT in task_outputs(task):
        return (PREDICTION_OUTPUT,)
    return (*(probability_column(name) for name in classes), CLASSES_OUTPUT)


def probability_column(class_name: str) -> str:
    """The column of one class's probability in scores: `probabilities_<class>`."""
    return f"{PROBABILITIES_OUTPUT}_{class_name}"


def split_folder(split: str) -> str:
    """The folder of one split inside an examples, statistics or anomalies artifact."""
    return f"{SPLIT_PREFIX}{split}"


def transformed_name(key: str) -> str:
    """Name of a feature after Transform, kept distinct so raw and transformed never collide."""
    return f"{key}{TRANSFORMED_SUFFIX}"


def label_key(label: str) -> str:
    """The label the Evaluator reads (binary 0/1, class index, or the target in original units)."""
    return transformed_name(label)


def task_outputs(task: str) -> tuple[str, ...]:
    """Every prediction output of the serving signatures, for a task ('binary', ... or its Task)."""
    return TASK_OUTPUTS[task]


def prediction_key(task: str) -> str:
    """The signature output the Evaluator scores (ModelSpec.prediction_key)."""
    return task_outputs(task)[0]


@dataclass(frozen=True)
class GraphInputs:
    """What the graph's wiring reads: the span window it pins ExampleGens to, and the
    fingerprints it passes as parameters so that TFX's cache sees edits to user code and schema.

    `code_fingerprint` covers all user code and declarations (lineage, reproduce, up to date);
    Transform's and the Trainer's cache keys are only the import closures of the code each runs
    (`preprocessing_code_fingerprint`, `model_code_fingerprint`), so an edit re-runs only its reader.
    """

    window: tuple[int, ...]
    code_fingerprint: str
    schema_fingerprint: str
    preprocessing_code_fingerprint: str
    model_code_fingerprint: str


def window_text(window: tuple[int, ...]) -> str:
    """A resolved window as a `spans` value that selects exactly it again ('3', '2-4')."""
    return str(window[0]) if len(window) == 1 else f"{window[0]}-{window[-1]}"


@dataclass(frozen=True)
class RunManifest(GraphInputs):
    """Everything a run reads, computed once per run before it runs (pipeline.run.manifest);
    `run_context` is what RecordRunContext records."""

    data_dir: str
    data_files: tuple[str, ...]
    data_fingerprint: str
    git_commit: str
    git_dirty: bool
    pipeline_code_fingerprint: str
    uv_lock_sha256: str
    packages: tuple[tuple[str, str], ...]

    def data_record(self) -> dict[str, object]:
        """The spans a run reads and a fingerprint of all their files' bytes.

        One span (or a plain folder) records exactly what it always did; a window of several
        spans records `data_span` as the range that selects it again ('2-4') and `data_spans`
        as the list.
        """
        window = self.window
        record: dict[str, object] = {
            "data_dir": self.data_dir,
            "data_span": window_text(window) if window else "none",
            "data_files": list(self.data_files),
            "data_fingerprint": self.data_fingerprint,
        }
        if len(window) == 1:
            record["data_span"] = window[0]
        elif window:
            record["data_spans"] = list(window)
        return record

    def run_context(self, config_record: Mapping[str, object]) -> dict[str, object]:
        """Everything that identifies the run's inputs, for MLMD and `reproduce`; `config_record`
        is the run's config as pipeline.config.record.config_record gives it."""
        return {
            **self.data_record(),
            "git_commit": self.git_commit,
            "git_dirty": self.git_dirty,
            "code_fingerprint": self.code_fingerprint,
            # The orchestration code too: an uncommitted edit to it leaves git_commit unchanged.
            "pipeline_code_fingerprint": self.pipeline_code_fingerprint,
            "schema_fingerprint": self.schema_fingerprint,
            "uv_lock_sha256": self.uv_lock_sha256,
            "packages": dict(self.packages),
            "config": dict(config_record),
        }

    def run_context_json(self, config_record: Mapping[str, object]) -> str:
        """The run context as the text RecordRunContext stores."""
        return run_context_json(self.run_context(config_record))


def run_context_json(context: Mapping[str, object]) -> str:
    """Stable JSON text of a run context."""
    return json.dumps(context, sort_keys=True)


@dataclass(frozen=True)
class DecisionThreshold:
    """A binary model's class cut (positive from `threshold` on) and its evidence: the declared rule
    and value it was chosen by on the training split, precision and recall at it there and on the
    eval split (None where undefined: no row called positive), the weighted rows each counted, and
    whether the rule's target was reached (precision_at may ask more than any cut gives)."""

    threshold: float
    rule: str
    value: float | None
    train_precision: float | None
    train_recall: float | None
    train_rows: int
    eval_precision: float | None = None
    eval_recall: float | None = None
    eval_rows: int = 0
    reached: bool = True

    def describe(self) -> str:
        """'0.3127 by max_f1 on 224 training rows: precision 0.7368 recall 0.8235 on 78 eval rows
        (train 0.8000 / 0.8500)', and when the rule's target was not reached, that too."""
        rule = self.rule if self.value is None else f"{self.rule} {self.value:g}"
        missed = "" if self.reached else f" ({rule} not reached on the training split)"
        return (f"{self.threshold:.4f} by {rule} on {self.train_rows} training rows{missed}: "
                f"precision {_share(self.eval_precision)} recall {_share(self.eval_recall)} on "
                f"{self.eval_rows} eval rows (train {_share(self.train_precision)} / "
                f"{_share(self.train_recall)})")

    def to_json(self) -> str:
        """The text written beside the model and recorded in ML Metadata."""
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DecisionThreshold | None:
        """The record from its text; None when the text is not one (a damaged or foreign file)."""
        try:
            values = json.loads(text)
            record = cls(**values)
        except (TypeError, ValueError):
            return None
        valid = isinstance(record.threshold, (int, float)) and 0.0 <= record.threshold <= 1.0
        return record if valid else None


def _share(value: float | None) -> str:
    """A precision or recall to 4 places; 'undefined' where no row made it one."""
    return "undefined" if value is None else f"{value:.4f}"
