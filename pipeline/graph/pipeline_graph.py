"""The pipeline graph: one definition shared by the local, Airflow and Kubeflow runners.

Pure wiring: what a run reads (span window, fingerprints, git commit, ...) is computed once by the
runner (pipeline.run.manifest) and passed in; building the graph reads no file and runs nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from tfx.components.schema_gen.component import SchemaGen
from tfx.components.statistics_gen.component import StatisticsGen
from tfx.dsl.components.base import base_component, base_node
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_artifact_strategy import LatestArtifactStrategy
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy,
)
from tfx.dsl.placeholder import placeholder as ph
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import example_gen_pb2, pusher_pb2, range_config_pb2, trainer_pb2
from tfx.types import (
    channel,
    channel_utils,
    standard_artifacts,
)

from pipeline import vocabulary
from pipeline.config import PipelineConfig
from pipeline.config.project import Project
from pipeline.config.record import config_record
from pipeline.data import input_files, spans
from pipeline.graph.baseline import Baseline
from pipeline.graph.csv_example_gen import CsvExampleGen
from pipeline.graph.curated_schema import ImportCuratedSchema
from pipeline.graph.data_gate import DataGate
from pipeline.graph.eval_config import eval_config
from pipeline.graph.evaluator import Evaluator
from pipeline.graph.record_run_context import RecordRunContext
from pipeline.graph.serving_pusher import ServingPusher
from pipeline.graph.span_validator import (
    SpanValidator,
    drift_calibration,
    previous_span_statistics,
)
from pipeline.graph.trainer import Trainer
from pipeline.graph.transform import Transform


def _schema_component(
    config: PipelineConfig, statistics: channel.BaseChannel, schema_fingerprint: str
):
    """The curated schema when configured, else SchemaGen's inference."""
    if config.schema_path is not None:
        return ImportCuratedSchema(
            schema_file=config.schema_path, schema_sha256=schema_fingerprint
        ).with_id(vocabulary.CURATED_SCHEMA)
    return SchemaGen(statistics=statistics, infer_feature_shape=True).with_id(vocabulary.SCHEMA_GEN)


def _split_config(config: PipelineConfig) -> example_gen_pb2.Output:
    """Deterministic hash split of the input rows into train and eval."""
    return example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[
                example_gen_pb2.SplitConfig.Split(
                    name=vocabulary.TRAIN_SPLIT, hash_buckets=config.train_hash_buckets),
                example_gen_pb2.SplitConfig.Split(
                    name=vocabulary.EVAL_SPLIT, hash_buckets=config.eval_hash_buckets),
            ]
        )
    )


def _span_inputs(span: int | None) -> dict[str, object]:
    """ExampleGen's input: the data file pattern (pipeline.data.input_files) of the plain folder,
    or of span-N folders pinned to the span resolved at construction."""
    if span is None:
        return {"input_config": example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(
            name="single_split", pattern=input_files.DATA_FILE_PATTERN)])}
    return {
        "input_config": example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name="single_split", pattern=spans.SPAN_PATTERN)]
        ),
        "range_config": range_config_pb2.RangeConfig(
            static_range=range_config_pb2.StaticRange(
                start_span_number=span, end_span_number=span
            )
        ),
    }


# A span's statistics and examples channels (None, None: no drift baseline).
SpanChannels = tuple[channel.BaseChannel | None, channel.BaseChannel | None]


@dataclass(frozen=True)
class SpanIngestion:
    """One span's ExampleGen (pinned to it) and the StatisticsGen over its examples."""

    span: int | None
    example_gen: base_component.BaseComponent
    statistics_gen: base_component.BaseComponent

    @property
    def statistics(self) -> channel.BaseChannel:
        """The span's statistics channel."""
        return self.statistics_gen.outputs[vocabulary.STATISTICS_KEY]

    @property
    def channels(self) -> SpanChannels:
        """The span's statistics and examples: the next span's drift baseline."""
        return self.statistics, self.example_gen.outputs[vocabulary.EXAMPLES_KEY]


def span_node_id(base: str, span: int | None, newest: bool) -> str:
    """Node ids in a window: the newest span keeps the plain id, older ones get `_span<N>`."""
    return base if newest or span is None else f"{base}_span{span}"


def _ingest(config: PipelineConfig, span: int | None, newest: bool) -> SpanIngestion:
    """ExampleGen pinned to one span (or the plain folder) and its StatisticsGen."""
    example_gen = CsvExampleGen(
        input_base=str(config.data_dir), output_config=_split_config(config),
        **_span_inputs(span),
    ).with_id(span_node_id(vocabulary.EXAMPLE_GEN, span, newest))
    statistics_gen = StatisticsGen(
        examples=example_gen.outputs[vocabulary.EXAMPLES_KEY]
    ).with_id(span_node_id(vocabulary.STATISTICS_GEN, span, newest))
    return SpanIngestion(span, example_gen, statistics_gen)


def _oldest_baseline(
    config: PipelineConfig, oldest: int | None, baseline: tuple[int, ...] | None
) -> tuple[list[base_node.BaseNode], SpanChannels]:
    """Nodes giving the oldest span's drift baseline (statistics, examples): with `baseline`
    None, the previous span's latest ones resolved from ML Metadata (a custom resolver, which
    Kubeflow's V2 compiler rejects); else the given span (at most one) ingested in this run, or
    none on the first span."""
    if oldest is None:
        return [], (None, None)
    if baseline is None:
        resolver = previous_span_statistics(oldest)
        return [resolver], (resolver.outputs[vocabulary.STATISTICS_KEY],
                            resolver.outputs[vocabulary.EXAMPLES_KEY])
    if not baseline:
        return [], (None, None)
    ingestion = _ingest(config, baseline[-1], False)
    return [ingestion.example_gen, ingestion.statistics_gen], ingestion.channels


def _validation(
    config: PipelineConfig,
    ingested: list[SpanIngestion],
    schema: channel.BaseChannel,
    baseline: tuple[int, ...] | None,
) -> list[base_node.BaseNode]:
    """A SpanValidator per span, measuring drift against the previous span of the window; the
    oldest span's baseline comes from _oldest_baseline."""
    window = len(ingested) > 1
    nodes, (previous, previous_examples) = _oldest_baseline(config, ingested[0].span, baseline)
    calibration = drift_calibration(config.declaration)
    for position, ingestion in enumerate(ingested):
        span = ingestion.span
        nodes.append(SpanValidator(
            statistics=ingestion.statistics, schema=schema, previous_statistics=previous,
            examples=ingestion.example_gen.outputs[vocabulary.EXAMPLES_KEY],
            previous_examples=previous_examples, calibration=calibration,
            **({"span": span} if window else {}),
        ).with_id(span_node_id(vocabulary.EXAMPLE_VALIDATOR, span, position == len(ingested) - 1)))
        previous, previous_examples = ingestion.channels
    return nodes


def _all(channels: list[channel.BaseChannel]) -> channel.BaseChannel:
    """One channel as it is (the single-span graph is unchanged), several as their union."""
    return channels[0] if len(channels) == 1 else channel_utils.union(channels)


def analyzer_cache_resolver() -> Resolver:
    """The newest TransformCache of earlier runs, so a window's Transform re-analyses only the
    spans it has not seen (LatestArtifactStrategy: Kubeflow's V2 compiler accepts it)."""
    return Resolver(
        strategy_class=LatestArtifactStrategy,
        analyzer_cache=channel.Channel(type=standard_artifacts.TransformCache),
    ).with_id(vocabulary.ANALYZER_CACHE_RESOLVER)


def _analyzer_cache(config: PipelineConfig, window: tuple[int, ...]) -> list[Resolver]:
    """The analyzer-cache resolver when asked for (--analyzer-cache) in a window of several spans,
    none otherwise: an input that changes every run keeps Transform out of TFX's execution cache,
    so it is a trade-off the user chooses (and `--no-cache` reuses nothing)."""
    wanted = config.analyzer_cache and config.enable_cache and len(window) > 1
    return [analyzer_cache_resolver()] if wanted else []


def _recorded_context(
    config: PipelineConfig, inputs: vocabulary.GraphInputs, run_context: str | None
) -> str:
    """The text RecordRunContext records: `run_context` when given, else the manifest's."""
    if run_context is not None:
        return run_context
    if not isinstance(inputs, vocabulary.RunManifest):
        raise TypeError("create_components needs a RunManifest, or GraphInputs and a run_context")
    return inputs.run_context_json(config_record(config))


def _baseline_view(project: Project) -> dict[str, object]:
    """What the Baseline component reads of the declaration: the code fields, the comparison
    metric and the margin (so a margin edit re-runs the Baseline, not Transform)."""
    return {**project.code_view(), "baseline_margin": project.baseline_margin,
            "no_worse_than_serving": project.no_worse_than_serving}


def create_components(
    config: PipelineConfig,
    inputs: vocabulary.GraphInputs,
    run_context: str | None = None,
    drift_baseline: tuple[int, ...] | None = None,
) -> list[base_node.BaseNode]:
    """Every component, wired by its artifacts, in topological order.

    A window of several spans has an ExampleGen, StatisticsGen and validator per span; Transform
    and Trainer read every span, the Evaluator and the pusher's warmup examples the newest one;
    Transform reads the latest analyzer cache, so spans analysed by earlier runs are not again.
    `inputs` is the run's manifest (pipeline.run.manifest.compute); an orchestrator that records
    it later passes GraphInputs and, as `run_context`, the text RecordRunContext is to record
    (Airflow: a template its task renders when it runs). `drift_baseline` None resolves the
    oldest span's drift baseline from ML Metadata; a tuple names the span ingested in the run
    for it instead ((): none), the form Kubeflow's V2 compiler accepts.
    """
    window = inputs.window
    ingested = [_ingest(config, span, span == window[-1]) for span in window] or [
        _ingest(config, None, True)]
    newest = ingested[-1]
    example_gen = newest.example_gen
    project = config.declaration
    run_context = RecordRunContext(
        examples=example_gen.outputs[vocabulary.EXAMPLES_KEY],
        context=_recorded_context(config, inputs, run_context),
    ).with_id(vocabulary.RECORD_RUN_CONTEXT)
    schema_gen = _schema_component(config, newest.statistics, inputs.schema_fingerprint)
    validation = _validation(config, ingested, schema_gen.outputs[vocabulary.SCHEMA_KEY], drift_baseline)
    validators = [n for n in validation if isinstance(n, SpanValidator)]
    data_gate = DataGate(
        anomalies=_all([v.outputs[vocabulary.ANOMALIES_KEY] for v in validators]),
        statistics=_all([s.statistics for s in ingested]),
        schema=schema_gen.outputs[vocabulary.SCHEMA_KEY],
        # Label fields and validation limits: not thresholds.
        project=json.dumps({**project.code_view(), "validation": project.to_dict()["validation"]},
                           sort_keys=True),
    ).with_id(vocabulary.DATA_GATE)
    cache = _analyzer_cache(config, window)
    transform = Transform(
        examples=_all([s.example_gen.outputs[vocabulary.EXAMPLES_KEY] for s in ingested]),
        analyzer_cache=cache[0].outputs[vocabulary.ANALYZER_CACHE_KEY] if cache else None,
        schema=data_gate.outputs[vocabulary.VALIDATED_SCHEMA_KEY],
        preprocessing_fn=project.preprocessing_fn,
        disable_statistics=not config.transform_statistics,
        force_tf_compat_v1=not config.transform_tf2,
        custom_config={"code_fingerprint": inputs.preprocessing_code_fingerprint,
                       "project": project.code_view(),
                       vocabulary.WRITE_ANALYZER_CACHE: config.analyzer_cache},
    ).with_id(vocabulary.TRANSFORM)
    trainer = Trainer(
        run_fn=project.run_fn,
        examples=transform.outputs[vocabulary.TRANSFORMED_EXAMPLES_KEY],
        transform_graph=transform.outputs[vocabulary.TRANSFORM_GRAPH_KEY],
        schema=data_gate.outputs[vocabulary.VALIDATED_SCHEMA_KEY],
        train_args=trainer_pb2.TrainArgs(num_steps=config.train_steps),
        eval_args=trainer_pb2.EvalArgs(num_steps=config.eval_steps),
        custom_config={
            "code_fingerprint": inputs.model_code_fingerprint,
            "hyperparameters": config.hyperparameters,
            "project": project.code_view(),
            "decision_threshold": project.to_dict()["decision_threshold"],
        },
    ).with_id(vocabulary.TRAINER)
    reference = Baseline(
        transformed_examples=transform.outputs[vocabulary.TRANSFORMED_EXAMPLES_KEY],
        project=json.dumps(_baseline_view(project), sort_keys=True),
    ).with_id(vocabulary.BASELINE)
    baseline_resolver = Resolver(
        strategy_class=LatestBlessedModelStrategy,
        model=channel.Channel(type=standard_artifacts.Model),
        model_blessing=channel.Channel(type=standard_artifacts.ModelBlessing),
    ).with_id(vocabulary.BLESSED_MODEL_RESOLVER)
    evaluator = Evaluator(
        examples=example_gen.outputs[vocabulary.EXAMPLES_KEY],
        model=trainer.outputs[vocabulary.MODEL_KEY],
        baseline_model=baseline_resolver.outputs[vocabulary.MODEL_KEY],
        eval_config=eval_config(project, config.blessing_thresholds, config.eval_plots),
        baseline_metrics=reference.outputs[vocabulary.BASELINE_METRICS_KEY],
    ).with_id(vocabulary.EVALUATOR)
    pusher = ServingPusher(
        model=trainer.outputs[vocabulary.MODEL_KEY],
        model_blessing=evaluator.outputs[vocabulary.BLESSING_KEY],
        examples=example_gen.outputs[vocabulary.EXAMPLES_KEY],
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(
                base_directory=f"{str(config.serving_dir).rstrip('/')}/{config.model_name}"
            )
        ),
        serving_features=project.feature_names,
    ).with_id(vocabulary.PUSHER)
    older = [node for s in ingested[:-1] for node in (s.example_gen, s.statistics_gen)]
    return [
        *older, example_gen, run_context, newest.statistics_gen, schema_gen, *validation,
        data_gate, *cache, transform, reference, trainer, baseline_resolver, evaluator, pusher,
    ]


def create_pipeline(
    config: PipelineConfig,
    inputs: vocabulary.GraphInputs,
    metadata_connection_config: object | None = None,
    run_context: str | None = None,
    drift_baseline: tuple[int, ...] | None = None,
) -> Pipeline:
    """The TFX pipeline for this config and the run's manifest (see create_components); runners
    supply the metadata connection."""
    return Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=str(config.pipeline_root),
        components=create_components(config, inputs, run_context, drift_baseline),
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list[str | ph.Placeholder](config.beam_args),
    )
