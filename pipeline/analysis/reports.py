"""Tables and figures for the notebooks, read from ML Metadata and the artifacts it points to."""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, TypeAlias

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pipeline.config import store_config
from pipeline.config.project import UNDEFINED, Project
from pipeline.metadata import connection, lineage_graph, provenance, records
from pipeline.vocabulary import (
    EVALUATION_KEY,
)

# TFMA's example counts: shown as integers.
EXAMPLE_COUNT_KEY = "example_count"
COUNT_KEYS = (EXAMPLE_COUNT_KEY, "weighted_example_count")

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler
    from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

    Statistics: TypeAlias = statistics_pb2.DatasetFeatureStatisticsList
    FeatureStatistics: TypeAlias = statistics_pb2.FeatureNameStatistics

DRIFT_THRESHOLD = 0.1
# Both distances are at most 1: a comparator bound nothing exceeds, for distances without a verdict.
NO_VERDICT = 1.0


def metric_keys(project: Project) -> tuple[str, ...]:
    """TFMA's keys of the project's task metrics, the primary one first: the columns and rows of
    run_history, slice_metrics and candidate_vs_baseline that the plots show."""
    primary = project.primary_metric
    return (primary.tfma_key, *(m.tfma_key for m in project.metrics if m != primary))


def quiet() -> None:
    """Keep notebook output to results: no Python warnings, absl and TensorFlow logs only from
    errors up; numbers printed with fixed decimals and thousands separators, not 1.4e+09; every
    table drawn by page(), so it fits the notebook column."""
    import logging
    import warnings

    from absl import logging as absl_logging

    warnings.filterwarnings("ignore")
    absl_logging.set_verbosity(absl_logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    pd.set_option("display.float_format", "{:,.4f}".format)
    pd.set_option("display.width", 120)
    pd.set_option("display.max_colwidth", 120)
    _draw_tables_with_page()


def _draw_tables_with_page() -> None:
    """In a notebook, IPython draws every DataFrame as page() does: a user's own tables fit too."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        html = shell.display_formatter.formatters["text/html"]
        html.for_type(pd.DataFrame, lambda table: page(table)._repr_html_())


def open_from_env(environ: Mapping[str, str]) -> tuple[connection.Store, str]:
    """The store and pipeline the PIPELINE_METADATA_* / PIPELINE_PIPELINE_NAME variables select
    (SQLite file or server, as for the CLI); fails when the pipeline has no runs there."""
    config = store_config(environ)
    store = connection.open_metadata(config)
    if not records.run_contexts(store, config.pipeline_name):
        raise connection.LineageError(
            f"no runs of pipeline '{config.pipeline_name}' in {config.metadata_location}: "
            "run `python -m pipeline run` first")
    return store, config.pipeline_name


def no_metrics(evaluation_uri: str) -> dict[str, float]:
    """A metrics reader for provenance questions that do not need TFMA."""
    return {}


# --- tables that fit the page ------------------------------------------------------------------

# Characters of one table row that fit the notebook column at a normal page width (about 1,150 px
# at about 7.5 px a character at 1280 px, with room to spare): a wider table is split into column groups.
PAGE_CHARACTERS = 140
# Text cells (URIs, descriptions, notes) wrap past this width, so one column never outgrows the page.
TEXT_CHARACTERS = 48
CELL_PADDING = 2
CELL_STYLE = f"max-width: {TEXT_CHARACTERS}ch; overflow-wrap: anywhere; white-space: normal"


class PageTables:
    """A table as HTML tables that each fit the notebook column: a wide table's column groups one
    under another (each repeating the index), counts as integers, floats with fixed decimals,
    undefined values as NaN, long text wrapped."""

    def __init__(self, parts: list[pd.DataFrame]) -> None:
        self.parts = parts

    def __repr__(self) -> str:
        return "\n\n".join(part.to_string() for part in self.parts)

    def _repr_html_(self) -> str:
        return "".join(_styled(part).to_html() for part in self.parts)


def page(table: pd.DataFrame, characters: int = PAGE_CHARACTERS) -> PageTables:
    """The table split by columns into parts of at most `characters` per row (estimated from the
    cells as drawn); a column group (one label over several splits) stays together."""
    budget = characters - _width(table.index.to_series(), table.index.names)
    parts: list[list[Hashable]] = [[]]
    used = 0
    for group in _column_groups(table):
        width = sum(_width(table[column], column) for column in group)
        if parts[-1] and used + width > budget:
            parts.append([])
            used = 0
        parts[-1].extend(group)
        used += width
    return PageTables([table[columns] for columns in parts])


def _column_groups(table: pd.DataFrame) -> list[list[Hashable]]:
    """The table's columns, those under one top-level label (e.g. `missing` over eval and train)
    kept together."""
    if isinstance(table.columns, pd.MultiIndex):
        return [list(group) for _, group in itertools.groupby(table.columns, key=lambda c: c[0])]
    return [[column] for column in table.columns]


def _width(values: pd.Series, label: object) -> int:
    """Characters a column takes as drawn: its widest label line or cell, text wrapped."""
    labels = label if isinstance(label, tuple | list) else (label,)
    cells = [len(str(part)) for part in labels if part is not None]
    cells += [len(cell(value)) for value in values]
    return min(max(cells, default=0), TEXT_CHARACTERS) + CELL_PADDING


def cell(value: object) -> str:
    """A value as a table shows it: integers with separators, floats with four fixed decimals,
    times to the second, a missing or undefined value as NaN."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not pd.api.types.is_scalar(value):
        return str(value)
    if pd.isna(value):
        return "NaN"
    if pd.api.types.is_integer(value):
        return f"{value:,}"
    if isinstance(value, float | np.floating):
        return f"{value:,.4f}"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    return str(value)


def exact(value: object) -> object:
    """A float as a string in full positional notation (0.00001, neither 1e-05 nor a table's
    0.0000), for recorded facts such as a learning rate; any other value unchanged."""
    if isinstance(value, float | np.floating) and not isinstance(value, bool):
        return np.format_float_positional(value, trim="-")
    return value


def _styled(part: pd.DataFrame) -> Styler:
    """A pandas Styler drawing one part with cell() and wrapping long text."""
    styler = part.style.format(cell).format_index(cell, axis=0)
    styler.set_table_attributes('class="dataframe"')
    return styler.set_table_styles([{"selector": "td, th", "props": CELL_STYLE}])


# --- runs and lineage -------------------------------------------------------------------------


def run_metrics(store: connection.Store, run_id: str) -> dict[str, float]:
    """The run's overall-slice metrics (without the vs-baseline diffs); empty if not evaluated."""
    for component in records.component_runs(store, run_id):
        for evaluation in component.outputs.get(EVALUATION_KEY, []):
            metrics = provenance.overall_metrics_reader(evaluation.uri)
            return {k: v for k, v in metrics.items() if not k.endswith("_diff")}
    return {}


def run_history(store: connection.Store, pipeline_name: str) -> pd.DataFrame:
    """One row per run: timing, status, cached components, pushed version and metrics."""
    rows = [{
        "run": run.run_id, "started": run.started, "seconds": round(run.seconds),
        "status": run.status, "cached": ", ".join(run.cached) or "-",
        "pushed_version": run.pushed_version or "-", **run_metrics(store, run.run_id),
    } for run in records.list_runs(store, pipeline_name)]
    return _counts_as_integers(pd.DataFrame(rows))


def _counts_as_integers(table: pd.DataFrame) -> pd.DataFrame:
    """TFMA's example counts (floats in its metrics) as integers; a missing one stays missing."""
    counts = [c for c in COUNT_KEYS if c in table]
    table[counts] = table[counts].round().astype("Int64")
    return table


def plot_metrics_over_runs(history: pd.DataFrame, metrics: Sequence[str]) -> plt.Figure:
    """Each metric (TFMA keys, e.g. metric_keys(project)) against run start time; pushed runs
    marked with their version on the first metric."""
    figure, axis = plt.subplots(figsize=(8, 4))
    shown = [m for m in metrics if m in history]
    for metric in shown:
        axis.plot(history["started"], history[metric], marker="o", label=metric)
    pushed = history[history["pushed_version"] != "-"] if shown else history.iloc[:0]
    for _, row in pushed.iterrows():
        axis.annotate(f"v{row['pushed_version']}", (row["started"], row[shown[0]]),
                      textcoords="offset points", xytext=(0, 8), ha="center")
    axis.set(title="Evaluation metrics over runs", xlabel="run start (UTC)", ylabel="value")
    axis.legend()
    figure.autofmt_xdate()
    return figure


def _links(graph: lineage_graph.LineageGraph) -> list[tuple[tuple[str, int], tuple[str, int]]]:
    """Directed links: artifact -> execution for inputs, execution -> artifact for outputs."""
    return [(("a", e.artifact_id), ("e", e.execution_id)) if e.is_input
            else (("e", e.execution_id), ("a", e.artifact_id)) for e in graph.edges]


def _layers(nodes: list[tuple[str, int]], links: list) -> dict[tuple[str, int], int]:
    """Longest distance from a source, so every link points down the page."""
    layer = {node: 0 for node in nodes}
    for _ in nodes:
        moved = False
        for source, target in links:
            if layer[target] <= layer[source]:
                layer[target], moved = layer[source] + 1, True
        if not moved:
            break
    for node in set(layer) - {target for _, target in links}:
        targets = [layer[t] for s, t in links if s == node]
        layer[node] = min(targets, default=1) - 1
    return layer


def _label(graph: lineage_graph.LineageGraph, node: tuple[str, int]) -> str:
    kind, node_id = node
    if kind == "e":
        return graph.node_ids[node_id]
    baseline = any(e.artifact_id == node_id and e.key in lineage_graph.STOP_KEYS for e in graph.edges)
    return f"{graph.type_names[node_id]} #{node_id}" + (" (baseline)" if baseline else "")


def draw_lineage(graph: lineage_graph.LineageGraph, title: str) -> plt.Figure:
    """Executions (blue boxes) and artifacts (yellow) laid out top-down by dependency depth."""
    nodes = [("e", i) for i in graph.executions] + [("a", i) for i in graph.artifacts]
    links = _links(graph)
    layer = _layers(nodes, links)
    rows: dict[int, list] = {}
    for node in sorted(nodes, key=lambda n: (n[0], n[1])):
        rows.setdefault(layer[node], []).append(node)
    position = {node: (i - (len(row) - 1) / 2, -depth)
                for depth, row in rows.items() for i, node in enumerate(row)}
    width = max(len(row) for row in rows.values())
    figure, axis = plt.subplots(figsize=(max(6, 3.2 * width), 0.75 * len(rows) + 1))
    for source, target in links:
        bend = 0.3 if layer[target] - layer[source] > 1 else 0.0
        axis.annotate("", xy=position[target], xytext=position[source],
                      arrowprops={"arrowstyle": "->", "color": "grey", "shrinkA": 9, "shrinkB": 9,
                                  "connectionstyle": f"arc3,rad={bend}"})
    for node, (x, y) in position.items():
        color = "#cfe2ff" if node[0] == "e" else "#fff3cd"
        axis.text(x, y, _label(graph, node), ha="center", va="center", fontsize=8,
                  bbox={"boxstyle": "round" if node[0] == "e" else "square", "fc": color})
    axis.set(title=title, xlim=(-width / 2 - 0.5, width / 2 + 0.5), ylim=(-len(rows), 1))
    axis.axis("off")
    return figure


# --- data validation --------------------------------------------------------------------------


def _empty_lists(common: statistics_pb2.CommonStatistics) -> int:
    """Rows where the feature is present with no value: what an empty CSV cell becomes (TFDV counts
    it as present, so num_missing stays 0). Exact for features of at most one value, from the
    value-count quantiles otherwise."""
    if common.max_num_values <= 1:
        return int(common.num_non_missing - common.tot_num_values)
    return round(sum(b.sample_count for b in common.num_values_histogram.buckets if b.high_value < 1))


def _empty_strings(feature: FeatureStatistics) -> int:
    """Rows whose value is the empty string (a tf.Example written with '' for no value)."""
    if not feature.HasField("string_stats"):
        return 0
    stats = feature.string_stats
    counts = {b.label: b.sample_count for b in stats.rank_histogram.buckets}
    counts.update({v.value: v.frequency for v in stats.top_values})
    return int(counts.get("", 0))


def no_value_count(feature: FeatureStatistics) -> int:
    """Rows with no value for this feature: absent, present but empty, or the empty string."""
    stats = feature.num_stats if feature.HasField("num_stats") else feature.string_stats
    common = stats.common_stats
    return int(common.num_missing) + _empty_lists(common) + _empty_strings(feature)


def _feature_row(feature: FeatureStatistics, rows: int) -> dict[str, object]:
    """Name, kind, counts (rows with a value, rows without one) and summary values of one
    feature's statistics."""
    name = ".".join(feature.path.step) or feature.name
    missing = no_value_count(feature)
    counts = {"feature": name, "present": rows - missing, "missing": missing,
              "missing %": round(100.0 * missing / rows, 1) if rows else 0.0}
    if feature.HasField("num_stats"):
        stats = feature.num_stats
        summary = {"mean": stats.mean, "std": stats.std_dev, "min": stats.min, "max": stats.max}
        # TFDV writes 0 for the summary of a feature with no value; there is none to show.
        return {**counts, "kind": "numeric",
                **{k: v if missing < rows else float("nan") for k, v in summary.items()}}
    stats = feature.string_stats
    top = stats.top_values[0].value if stats.top_values else None
    return {**counts, "kind": "string", "unique": int(stats.unique), "top": top}


def feature_table(statistics: Statistics) -> pd.DataFrame:
    """One row per feature of a statistics proto; `missing` counts the rows with no value."""
    dataset = statistics.datasets[0]
    rows = [_feature_row(f, int(dataset.num_examples)) for f in dataset.features]
    return pd.DataFrame(rows).set_index("feature").sort_index()


def compare_tables(tables: Mapping[str, pd.DataFrame], columns=("missing", "missing %", "mean",
                                                                "std")) -> pd.DataFrame:
    """Selected columns of several feature tables side by side, e.g. train vs eval."""
    parts = {label: table[[c for c in columns if c in table]] for label, table in tables.items()}
    return pd.concat(parts, axis=1).swaplevel(axis=1).sort_index(axis=1)


def _histogram(feature: FeatureStatistics) -> tuple[list[float], list[float], list[float]] | None:
    """Bucket lows, widths and fractions of the standard histogram of a numeric feature."""
    for histogram in feature.num_stats.histograms:
        if histogram.type == histogram.STANDARD and histogram.buckets:
            buckets = histogram.buckets
            total = sum(b.sample_count for b in buckets) or 1.0
            return ([b.low_value for b in buckets], [b.high_value - b.low_value for b in buckets],
                    [b.sample_count / total for b in buckets])
    return None


def plot_histograms(statistics_by_label: Mapping[str, Statistics], columns: int = 4) -> plt.Figure:
    """Numeric feature distributions, one panel per feature, one colour per split or run."""
    first = next(iter(statistics_by_label.values())).datasets[0]
    names = sorted(".".join(f.path.step) for f in first.features if f.HasField("num_stats"))
    rows = -(-len(names) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 2.6 * rows), squeeze=False)
    for axis, name in zip(axes.flat, names, strict=False):
        for label, statistics in statistics_by_label.items():
            feature = next(f for f in statistics.datasets[0].features
                           if ".".join(f.path.step) == name)
            bars = _histogram(feature)
            if bars:
                axis.bar(bars[0], bars[2], width=bars[1], align="edge", alpha=0.5, label=label)
        axis.set_title(name, fontsize=9)
    for axis in axes.flat[len(names):]:
        axis.axis("off")
    axes.flat[0].legend()
    figure.tight_layout()
    return figure


def anomalies_table(anomalies_by_label: Mapping[str, anomalies_pb2.Anomalies]) -> pd.DataFrame:
    """One row per anomalous feature: where it was found, the feature and TFDV's reasons."""
    rows = [{"where": label, "feature": feature,
             "anomaly": "; ".join(r.short_description for r in info.reason),
             "description": info.description}
            for label, anomalies in anomalies_by_label.items()
            for feature, info in sorted(anomalies.anomaly_info.items())]
    return pd.DataFrame(rows, columns=["where", "feature", "anomaly", "description"])


def drift_table(
    current: Statistics, reference: Statistics, schema: schema_pb2.Schema,
    threshold: float | None = DRIFT_THRESHOLD,
) -> pd.DataFrame:
    """TFDV's distance of every feature between two statistics (Jensen-Shannon / L-infinity),
    with a `drifted` verdict against `threshold`, or none when threshold is None (two random
    samples of one data set, whose distances are sampling noise and histogram binning)."""
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2

    bound = NO_VERDICT if threshold is None else threshold
    schema = type(schema).FromString(schema.SerializeToString())
    for feature in schema.feature:
        comparator = feature.drift_comparator
        if feature.type == schema_pb2.BYTES:
            comparator.infinity_norm.threshold = bound
        else:
            comparator.jensen_shannon_divergence.threshold = bound
    anomalies = tfdv.validate_statistics(current, schema, previous_statistics=reference)
    rows = [{"feature": ".".join(info.path.step), "measure": m.Type.Name(m.type),
             "value": m.value, "threshold": m.threshold, "drifted": m.value > m.threshold}
            for info in anomalies.drift_skew_info for m in info.drift_measurements]
    table = pd.DataFrame(rows, columns=["feature", "measure", "value", "threshold", "drifted"])
    return table.drop(columns=["threshold", "drifted"]) if threshold is None else table


def previous_run_statistics(store: connection.Store, pipeline_name: str) -> tuple[str, str] | None:
    """(run id, statistics uri) of the run before the latest one, if there is one (and it
    recorded statistics)."""
    runs = records.list_runs(store, pipeline_name)
    if len(runs) < 2:
        return None
    validation = provenance.run_provenance(store, runs[-2].run_id, no_metrics).validation
    if validation is None or validation.statistics_uri is None:
        return None
    return runs[-2].run_id, validation.statistics_uri


# --- model analysis ---------------------------------------------------------------------------


def model_names(evaluation_uri: str) -> list[str]:
    """Model names in an evaluation: ['candidate', 'baseline'] when a baseline was compared."""
    from tensorflow_model_analysis.writers.eval_config_writer import load_eval_run

    config = load_eval_run(evaluation_uri)[0]
    return [spec.name for spec in config.model_specs]


def _slice_name(slice_key: tuple) -> str:
    return " & ".join(f"{k}={v}" for k, v in slice_key) or "Overall"


def slice_metrics(evaluation_uri: str, project: Project, model_name: str | None = None
                  ) -> pd.DataFrame:
    """One row per slice (Overall first), one column per metric, diffs left out; an undefined
    metric is NaN (AUC on a slice of one class), never TFMA's number; `note` says why, and flags
    slices under the declaration's min_slice_examples."""
    import tensorflow_model_analysis as tfma

    result = tfma.load_eval_result(evaluation_uri, model_name=model_name or None)
    rows = []
    for slice_key, metrics in result.slicing_metrics:
        values = metrics.get("", {}).get("", {})
        computed = {k: float(v["doubleValue"]) for k, v in values.items()
                    if "doubleValue" in v and not k.endswith("_diff")}
        rows.append({"slice": _slice_name(slice_key),
                     "feature": slice_key[0][0] if slice_key else "",
                     "value": slice_key[0][1] if slice_key else "",
                     **project.defined_metrics(computed),
                     "note": _slice_note(project, computed)})
    rows.sort(key=lambda r: (r["feature"], _sortable(r["value"])))
    return _counts_as_integers(pd.DataFrame(rows).set_index("slice"))


def _slice_note(project: Project, computed: Mapping[str, float]) -> str:
    """'n < 30', 'auc: one class', ... (TFMA keys, as the table's columns): why a slice's numbers
    are not to be read as the others'."""
    task_keys = {m.tfma_key for m in project.metrics}
    notes = [f"{key}: {reason}"
             for key, reason in project.undefined_metrics(computed).items() if key in task_keys]
    count = computed.get(EXAMPLE_COUNT_KEY)
    if count is not None and count < project.min_slice_examples:
        notes.insert(0, f"n < {project.min_slice_examples}")
    return "; ".join(notes)


def _sortable(value: object) -> tuple[int, float, str]:
    """Numbers in numeric order (hour 2 before hour 10), then strings."""
    if isinstance(value, int | float):
        return 0, float(value), str(value)
    return 1, 0.0, str(value)


def candidate_vs_baseline(evaluation_uri: str, project: Project) -> pd.DataFrame | None:
    """Overall metrics of candidate and baseline side by side; None without a baseline."""
    names = model_names(evaluation_uri)
    if len(names) < 2:
        return None
    columns = {name: slice_metrics(evaluation_uri, project, name).loc["Overall"].drop(
        ["feature", "value", "note"]) for name in names}
    table = pd.DataFrame(columns).astype(float)
    table["change"] = table[names[0]] - table[names[1]]
    return table


def plot_slice_metric(table: pd.DataFrame, feature: str, metric: str) -> plt.Figure:
    """A metric (a TFMA key, e.g. project.primary_metric.tfma_key) per value of one slicing
    feature, with the overall value as a line; a slice whose value is undefined has no bar but its
    note, and slices the `note` flags as small are pale."""
    rows = table[table["feature"] == feature]
    figure, axis = plt.subplots(figsize=(max(5, 0.45 * len(rows)), 3.5))
    values = rows[metric].astype(float)
    small = rows["note"].str.startswith("n <")
    axis.bar(range(len(rows)), values.fillna(0), color=["#c6d2e6" if s else "#4c72b0" for s in small])
    for x, (value, count, note) in enumerate(zip(values, rows["example_count"], rows["note"],
                                                 strict=True)):
        label = f"n={count}" if pd.notna(value) else f"n={count}\n{_reason(note, metric)}"
        axis.annotate(label, (x, 0 if pd.isna(value) else value), ha="center", va="bottom",
                      fontsize=7)
    axis.axhline(table.loc["Overall", metric], color="black", linestyle="--", label="overall")
    axis.set_xticks(range(len(rows)), [str(v) for v in rows["value"]], rotation=60, fontsize=8)
    axis.set(title=f"{metric} by {feature} (n: examples; pale: fewer than the declared minimum)",
             ylabel=metric)
    axis.legend()
    figure.tight_layout()
    return figure


def _reason(note: str, metric: str) -> str:
    """Why a slice note says the metric is undefined ('one class'), or 'undefined'."""
    reasons = dict(part.split(": ", 1) for part in note.split("; ") if ": " in part)
    return reasons.get(metric, UNDEFINED)


def plot_candidate_vs_baseline(table: pd.DataFrame, metrics: Sequence[str]) -> plt.Figure:
    """Grouped bars: each metric (TFMA keys, e.g. metric_keys(project)) for the candidate and the
    baseline."""
    shown = table.loc[[m for m in metrics if m in table.index]].drop(columns="change")
    axis = shown.plot.bar(figsize=(6, 3.5), rot=0, title="candidate vs baseline (overall)")
    return axis.figure
