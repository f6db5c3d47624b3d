"""A tiny MLMD store recorded the way TFX records runs, for fast lineage tests without TFX."""

from __future__ import annotations

from pathlib import Path

from ml_metadata.proto import metadata_store_pb2 as mlmd

from pipeline.config import store_config
from pipeline.metadata import connection, records

Properties = dict[str, object]


def _set(properties, values: Properties) -> None:
    """Write Python values into an MLMD custom-properties map."""
    for name, value in values.items():
        if isinstance(value, bool | int):
            properties[name].int_value = int(value)
        elif isinstance(value, float):
            properties[name].double_value = value
        else:
            properties[name].string_value = str(value)


class FakePipeline:
    """Contexts per pipeline, run and node; executions linked to artifacts by keyed events."""

    def __init__(self, path: Path, name: str = "taxi") -> None:
        self.store = connection.open_metadata(
            store_config({}, {"metadata_path": path}), read_only=False)
        self.name = name
        self._types: dict[tuple[str, str], int] = {}
        self.pipeline = self._context(records.PIPELINE_CONTEXT, name)

    def _type_id(self, kind: str, name: str) -> int:
        if (kind, name) not in self._types:
            put, proto = {
                "context": (self.store.put_context_type, mlmd.ContextType),
                "execution": (self.store.put_execution_type, mlmd.ExecutionType),
                "artifact": (self.store.put_artifact_type, mlmd.ArtifactType),
            }[kind]
            self._types[(kind, name)] = put(proto(name=name))
        return self._types[(kind, name)]

    def _context(self, type_name: str, name: str) -> mlmd.Context:
        existing = self.store.get_context_by_type_and_name(type_name, name)
        if existing is not None:
            return existing
        context = mlmd.Context(type_id=self._type_id("context", type_name), name=name)
        [context.id] = self.store.put_contexts([context])
        return context

    def artifact(self, type_name: str, uri: str, **properties: object) -> mlmd.Artifact:
        """A new, not yet stored, artifact."""
        artifact = mlmd.Artifact(type_id=self._type_id("artifact", type_name), uri=uri,
                                 state=mlmd.Artifact.LIVE)
        _set(artifact.custom_properties, properties)
        return artifact

    def execute(
        self, run_id: str, node: str, state: str = "COMPLETE",
        inputs: dict[str, mlmd.Artifact] | None = None,
        outputs: dict[str, mlmd.Artifact] | None = None, **properties: object,
    ) -> dict[str, mlmd.Artifact]:
        """Record one execution of `node` in run `run_id`; return its outputs with their ids."""
        execution = mlmd.Execution(type_id=self._type_id("execution", f"fake.{node}"),
                                   last_known_state=mlmd.Execution.State.Value(state))
        _set(execution.custom_properties, properties)
        pairs = [(a, self._event(mlmd.Event.INPUT, k)) for k, a in (inputs or {}).items()]
        pairs += [(a, self._event(mlmd.Event.OUTPUT, k)) for k, a in (outputs or {}).items()]
        contexts = [self.pipeline, self._context(records.RUN_CONTEXT, run_id),
                    self._context(records.NODE_CONTEXT, f"{self.name}.{node}")]
        _, artifact_ids, _ = self.store.put_execution(execution, pairs, contexts)
        stored = self.store.get_artifacts_by_id(artifact_ids[len(inputs or {}):])
        return dict(zip((outputs or {}).keys(), stored, strict=True))

    @staticmethod
    def _event(kind: int, key: str) -> mlmd.Event:
        event = mlmd.Event(type=kind)
        event.path.steps.add().key = key
        return event


def record_summary(fake: FakePipeline, run_id: str, metrics: dict[str, float],
                   blessed: bool = True) -> None:
    """The evaluation a local run keeps on its run context (summary.RECORDED_SUMMARY)."""
    import json

    from pipeline.metadata.summary import RECORDED_SUMMARY

    run = records.run_context_of(fake.store, run_id)
    run.custom_properties[RECORDED_SUMMARY].string_value = json.dumps(
        {"metrics": metrics, "blessed": blessed, "blessing_reason": "all thresholds passed"})
    fake.store.put_contexts([run])


def evaluated_and_pushed_runs(
    path: Path, root: Path, context: str = "{}", pipeline: str = "taxi", runs: int = 2
) -> FakePipeline:
    """`runs` (two) complete runs of `pipeline`, each trained, evaluated (metrics recorded on the run
    context, as local runs do) and pushed; every output uri is a real folder under `root` and the
    pushed models are served under root/serving_model/<pipeline> with their fingerprints."""
    import json

    fake = FakePipeline(path, pipeline)
    for number in range(1, runs + 1):
        run_id, folder = f"run-{number}", root / f"run-{number}"
        for name in ("examples", "model", "evaluation", "blessing", "pushed", "context"):
            (folder / name).mkdir(parents=True, exist_ok=True)
        fake.execute(run_id, "RecordRunContext", context=context,
                     outputs={"run_context": fake.artifact("RunContext", str(folder / "context"),
                                                           data_span=number)})
        examples = fake.execute(
            run_id, "CsvExampleGen", input_base="/data", input_fingerprint=f"fp{number}",
            outputs={"examples": fake.artifact("Examples", str(folder / "examples"), span=number,
                                               split_names='["train", "eval"]')},
        )["examples"]
        model = fake.execute(
            run_id, "Trainer", inputs={"examples": examples},
            custom_config=json.dumps({"code_fingerprint": "abc", "hyperparameters": {}}),
            train_args=json.dumps({"num_steps": 10 * number}),
            outputs={"model": fake.artifact("Model", str(folder / "model"))},
        )["model"]
        evaluated = fake.execute(
            run_id, "Evaluator", inputs={"model": model},
            outputs={"evaluation": fake.artifact("ModelEvaluation", str(folder / "evaluation")),
                     "blessing": fake.artifact("ModelBlessing", str(folder / "blessing"),
                                               blessed=1)},
        )
        fingerprint = f"model-{number}"
        version = root / "serving_model" / pipeline / str(number)
        (version / "assets.extra").mkdir(parents=True, exist_ok=True)
        (version / "saved_model.pb").write_bytes(b"model")
        (version / "assets.extra" / "push_record.json").write_text(
            json.dumps({"fingerprint": fingerprint}))
        fake.execute(
            run_id, "ServingPusher",
            inputs={"model": model, "model_blessing": evaluated["blessing"]},
            outputs={"pushed_model": fake.artifact(
                "PushedModel", str(folder / "pushed"), pushed=1, pushed_version=str(number),
                pushed_destination=str(version), push_decision=f"pushed as version {number}",
                model_fingerprint=fingerprint)},
        )
        record_summary(fake, run_id, {"auc": 0.9 + number / 100, "binary_accuracy": 0.8})
    return fake


def served_from(fake: FakePipeline, root: str) -> None:
    """One run of `fake` whose examples, statistics, validated schema and model live under
    `root`, pushed as version 1."""
    fake.execute("run-1", "CsvExampleGen",
                 outputs={"examples": fake.artifact("Examples", f"{root}/examples")})
    fake.execute("run-1", "StatisticsGen",
                 outputs={"statistics": fake.artifact("ExampleStatistics", f"{root}/stats")})
    fake.execute("run-1", "DataGate",
                 outputs={"validated_schema": fake.artifact("Schema", f"{root}/schema")})
    model = fake.execute("run-1", "Trainer", outputs={
        "model": fake.artifact("Model", f"{root}/model")})["model"]
    fake.execute("run-1", "ServingPusher", inputs={"model": model}, outputs={
        "pushed_model": fake.artifact("PushedModel", f"{root}/pushed", pushed=1,
                                      pushed_version="1")})
