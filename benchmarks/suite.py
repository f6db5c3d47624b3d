"""The benchmark suite: every pipeline run is a measured child process; results are written after
each step, so a run stopped half way still leaves its table and plot."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import (
    airflow_run,
    fixed_costs,
    profiling,
    reference,
    report,
    scaling,
    scoring,
    tfx_example,
    weekly,
    windows,
)
from benchmarks.harness import measure
from benchmarks.weekly import ROWS_PER_WEEK
from pipeline import environment
from pipeline.config import PROJECT_ROOT, PipelineConfig, store_config
from pipeline.errors import EXIT_NOT_BLESSED
from pipeline.metadata import connection, records
from pipeline.serving import layout
from pipeline.vocabulary import (
    BLESSING_KEY,
    EVALUATION_KEY,
    EVALUATOR,
    EXAMPLE_GEN,
    EXAMPLES_KEY,
    MODEL_KEY,
    PUSHED_MODEL_KEY,
    RECORD_RUN_CONTEXT,
    RUN_CONTEXT_KEY,
    TRAINER,
)

BUNDLED_DATA = PROJECT_ROOT / "data" / "taxi"
SERVING_FORMAT = "Format-Serving"


@dataclass(frozen=True)
class SuiteOptions:
    """What to measure and where; the CLI fills it."""

    scales: tuple[float, ...] = (1.0, 10.0, 100.0)
    train_steps: int = 1000
    tfx_example: bool = True
    airflow: bool = True
    fixed_costs: bool = True
    serving_calls: int = 200
    batch_sizes: tuple[int, ...] = (1, 32, 1024)
    work_dir: Path = PROJECT_ROOT / "state" / "bench"
    output_dir: Path = PROJECT_ROOT / "benchmarks" / "results"
    seed: int = 42
    timeout: float = 3600.0
    pipeline_args: tuple[str, ...] = field(default_factory=tuple)
    windows: bool = True
    score: bool = True
    weekly: bool = True
    weekly_rows: int = ROWS_PER_WEEK
    # Synthetic copies made before (tools.synthesize, same seed) as <data_dir>/x<scale>: used as
    # they are instead of synthesizing again.
    data_dir: Path | None = None
    profile: bool = True
    # The profiled run's scale: the largest measured scale up to it (Beam runs in one process
    # under the profiler, so at 100x it would take longer than the run it explains).
    profile_scale: float = 10.0
    record_reference: bool = False
    assert_results: bool = True
    reference_dir: Path = reference.REFERENCE_DIR


@dataclass
class Suite:
    """Runs the steps in order and keeps the results dict the report is rendered from."""

    options: SuiteOptions
    log: Callable[[str], None] = print
    results: dict = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """Child environment: TF settings, project on PYTHONPATH, no PIPELINE_* overrides."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
        environment.prepare(env)
        return env

    def measured(self, name: str, command: list[str], code: Path | None = None,
                 settings: Mapping[str, str] | None = None,
                 accepted: tuple[int, ...] | None = (0, EXIT_NOT_BLESSED),
                 samples: list[tuple[float, float]] | None = None) -> dict:
        """Run one child, log a line about it, and return its measurement; with `code`, the child
        imports user code (`models`) from that folder instead of the checkout; `settings` are
        PIPELINE_* variables the child gets (its state and models folders); `samples` receives
        its memory samples (time, tree MiB)."""
        self.log(f"[bench] {name} ...")
        env = {**self.env(), **(settings or {})}
        if code is not None:
            env["PYTHONPATH"] = os.pathsep.join([str(code), env["PYTHONPATH"]])
        # A run whose model is not blessed (exit 4) is timed like any other: blessing is the
        # model's verdict, not the run's failure.
        measurement = measure(command, self.options.work_dir / "logs" / f"{name}.log",
                              code or PROJECT_ROOT, env, self.options.timeout, accepted=accepted)
        if samples is not None:
            samples.extend(measurement.samples)
        result = measurement.to_json()
        self.log(f"[bench] {name}: {result['seconds']:.1f} s wall, {result['cpu_seconds']:.1f} s "
                 f"CPU, peak {result['peak_rss_mib']:.0f} MiB")
        return result

    def save(self) -> None:
        """Write JSON, markdown and plot with what is known so far."""
        report.write(self.results, self.options.output_dir)

    def dataset(self, scale: float) -> tuple[Path, int]:
        """The bundled data at scale 1, otherwise a seeded synthetic copy of scale x its rows."""
        if scale == 1:
            return BUNDLED_DATA, count_rows(BUNDLED_DATA)
        made = self.options.data_dir / f"x{scale:g}" if self.options.data_dir else None
        if made is not None and any(made.glob("*.csv")):
            return made, count_rows(made)
        folder = self.options.work_dir / "data" / f"x{scale:g}"
        shutil.rmtree(folder, ignore_errors=True)
        self.measured(f"synthesize-x{scale:g}", [
            sys.executable, "-m", "tools.synthesize", "--scale", str(scale), "--output",
            str(folder), "--seed", str(self.options.seed),
        ])
        return folder, count_rows(folder)

    def our_command(self, data: Path, root: Path, *flags: str) -> list[str]:
        """`python -m pipeline run` with every location under root."""
        return [sys.executable, "-m", "pipeline", *self.run_arguments(data, root, *flags)]

    def run_arguments(self, data: Path, root: Path, *flags: str) -> list[str]:
        """The arguments of `pipeline` for a run with every location under root."""
        return [
            "run", "--data", str(data),
            "--pipeline-root", str(root / "pipeline_root"),
            "--metadata", str(root / "metadata.sqlite"),
            "--serving-dir", str(root / "serving_model"), "--log-dir", str(root / "logs"),
            "--train-steps", str(self.options.train_steps), *self.options.pipeline_args, *flags,
        ]

    def run_ours(
        self, name: str, data: Path, root: Path, *flags: str, code: Path | None = None
    ) -> dict:
        """Our pipeline through its CLI, timed, with per-component times from its MLMD and each
        component's peak memory (the process tree's largest sample while it ran)."""
        samples: list[tuple[float, float]] = []
        run = self.measured(name, self.our_command(data, root, *flags), code, samples=samples)
        run.update(read_run(root / "metadata.sqlite", PipelineConfig().pipeline_name))
        for component in run["components"].values():
            component["peak_tree_rss_mib"] = peak_between(
                samples, component["started"], component["finished"])
        return run

    def run_tfx_example(self, name: str, data: Path, root: Path) -> dict:
        """TFX's example, same data and steps, timed, with per-component times from its MLMD."""
        command = [
            sys.executable, "-m", "benchmarks.tfx_example", "--data", str(data), "--root",
            str(root), "--train-steps", str(self.options.train_steps),
        ]
        run = self.measured(name, command)
        run.update(read_run(tfx_example.paths(root)["metadata"], tfx_example.PIPELINE_NAME))
        return run

    def end_to_end(self, scale: float, data: Path, rows: int) -> dict:
        """Ours cold, re-run unchanged, re-run --force; the TFX example cold; the model probe."""
        tag = f"x{scale:g}"
        ours_root = self.fresh(f"ours-{tag}")
        code = user_code_copy(ours_root)
        flags = code_flags(code)
        cold = self.run_ours(f"ours-{tag}-cold", data, ours_root, *flags, code=code)
        served_after_cold = served_versions(ours_root)
        self.results["end_to_end"] = {"scale": scale, "rows": rows, "data": str(data),
                                      "ours": {"cold": cold}}
        self.save()
        if self.options.fixed_costs:
            self.results["end_to_end"]["ours"]["fixed_costs"] = fixed_costs.measure(
                self.measured, cold)
            self.save()
        warm = self.measured(f"ours-{tag}-warm", self.our_command(data, ours_root, *flags), code)
        warm["reused_run"] = read_run(ours_root / "metadata.sqlite",
                                      PipelineConfig().pipeline_name)["run_id"]
        self.results["end_to_end"]["ours"]["warm"] = warm
        self.save()
        forced = self.run_ours(f"ours-{tag}-warm-forced", data, ours_root, *flags, "--force",
                               code=code)
        self.results["end_to_end"]["ours"]["warm_forced"] = forced
        self.results["identical_results"] = {"unchanged_input": reference.unchanged_input_check(
            served_after_cold, served_versions(ours_root), forced.get("pushed_version"))}
        self.save()
        tfx_root = None
        if self.options.tfx_example:
            tfx_root = self.fresh(f"tfx-{tag}")
            theirs = self.run_tfx_example(f"tfx-example-{tag}-cold", data, tfx_root)
            self.results["end_to_end"]["tfx_example"] = {"cold": theirs}
            self.save()
        self.results["models"] = self.probe(data, ours_root, cold, tfx_root)
        self.results["identical_results"]["reference"] = self.compare_with_reference()
        self.save()
        self.results["end_to_end"]["ours"]["model_edit"] = self.model_edit(tag, data, ours_root, code)
        self.save()
        return cold

    def model_edit(self, tag: str, data: Path, root: Path, code: Path) -> dict:
        """Edit model code only (the run_fn's module in the copy the end-to-end runs import), then
        re-run: its wall time against the cold run, and which components re-ran."""
        module = code.joinpath(*PipelineConfig().declaration.run_fn.split(".")[:-1]).with_suffix(".py")
        with module.open("a") as handle:
            handle.write("\n# benchmark: an edit to the model code only\n")
        edited = self.run_ours(f"ours-{tag}-model-edit", data, root, *code_flags(code), code=code)
        return {**edited, "edited_module": str(module.relative_to(code))}

    def probe(self, data: Path, ours_root: Path, cold: dict, tfx_root: Path | None) -> dict:
        """Quality and serving latency, measured in a child process that loads TensorFlow."""
        served, source = served_model(ours_root, cold)
        spec = {
            "data": str(data), "ours_model": served, "model_source": source,
            "ours_examples": cold["artifacts"].get(EXAMPLE_GEN),
            "ours_evaluation": cold["artifacts"].get(EVALUATOR),
            "batch_sizes": list(self.options.batch_sizes), "calls": self.options.serving_calls,
        }
        if tfx_root is not None:
            theirs = self.results["end_to_end"]["tfx_example"]["cold"]
            spec.update({
                "tfx_examples": theirs["artifacts"].get(EXAMPLE_GEN),
                "tfx_evaluation": theirs["artifacts"].get(EVALUATOR),
                "tfx_model": trainer_model(theirs),
            })
        folder = self.options.work_dir / "probe"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "spec.json").write_text(json.dumps(spec, indent=2))
        output = folder / "probe.json"
        process = self.measured("probe", [
            sys.executable, "-m", "benchmarks.probe", "--spec", str(folder / "spec.json"),
            "--output", str(output),
        ])
        return {**json.loads(output.read_text()), "process": process}

    def compare_with_reference(self) -> dict:
        """The cold run's outcome against the committed reference (recorded first when asked)."""
        measured = reference.outcome(self.results)
        if measured is not None and self.options.record_reference:
            self.log(f"[bench] reference written: {reference.record(measured, self.options.reference_dir)}")
        tolerance = PipelineConfig().declaration.reproducibility.metrics
        return reference.check(measured, self.options.reference_dir, tolerance)

    def profile(self, scale: float, data: Path, rows: int, cold: dict) -> dict:
        """A second cold run at `scale` with each component's executor under cProfile."""
        tag = f"x{scale:g}"
        root = self.fresh(f"profile-{tag}")
        command = [sys.executable, "-m", "benchmarks.profiling", "--profile-dir",
                   str(root / "profiles"), "--", *self.run_arguments(data, root)]
        process = self.measured(f"profile-{tag}", command)
        return {"scale": scale, "rows": rows, "process": process,
                "mlmd_seconds": {node: c["seconds"] for node, c in cold["components"].items()},
                "components": profiling.summarize_folder(root / "profiles")}

    def fresh(self, name: str) -> Path:
        """An empty folder for one pipeline's state, so a cold run is really cold."""
        root = self.options.work_dir / name
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        return root

    def run(self) -> dict:
        """Every step, smallest scale first; that one also gets the end-to-end comparison."""
        self.results = {"machine": machine(), "options": options_json(self.options),
                        "scaling": []}
        self.save()
        scales = sorted(self.options.scales)
        datasets, colds = {}, {}
        for index, scale in enumerate(scales):
            data, rows = self.dataset(scale)
            datasets[scale] = data
            if index == 0:
                cold = self.end_to_end(scale, data, rows)
            else:
                cold = self.run_ours(f"ours-x{scale:g}-cold", data, self.fresh(f"ours-x{scale:g}"))
            colds[scale] = (data, rows, cold)
            self.results["scaling"].append(scaling_point(scale, rows, cold,
                                                         self.options.train_steps))
            self.save()
        if self.options.profile:
            profiled = profiled_scale(scales, self.options.profile_scale)
            self.results["profile"] = self.profile(profiled, *colds[profiled])
            self.save()
        if self.options.airflow:
            self.results["airflow"] = self.airflow()
            self.save()
        if self.options.windows:
            self.results["windows"] = windows.measure(self, BUNDLED_DATA)
            self.save()
        if self.options.weekly:
            self.results["weekly"] = weekly.measure(self, self.options.weekly_rows)
            self.save()
        if self.options.score:  # last: `score` at the largest scale is the longest step
            self.results["scoring"] = scoring.measure(self, datasets)
            self.save()
        return self.results

    def airflow(self) -> dict:
        """A DAG run of the bundled data on the production Airflow, against the local cold run
        of the same data and steps (the end-to-end one when that ran on the bundled data)."""
        e2e = self.results.get("end_to_end", {})
        local = e2e.get("ours", {}).get("cold") if e2e.get("data") == str(BUNDLED_DATA) else None
        options = airflow_run.AirflowRunOptions(BUNDLED_DATA, self.options.train_steps,
                                                self.options.timeout)
        return airflow_run.scenario(
            options, local,
            lambda: self.run_ours("airflow-local", BUNDLED_DATA, self.fresh("airflow-local")),
            self.log)


def profiled_scale(scales: list[float], wanted: float) -> float:
    """The largest measured scale up to `wanted`, else the smallest."""
    return max((scale for scale in scales if scale <= wanted), default=min(scales))


def user_code_copy(root: Path) -> Path:
    """A copy of models/ under root/code, for the end-to-end runs to import and one scenario to edit
    (the checkout's own models/ is never touched)."""
    code = root / "code"
    shutil.copytree(PROJECT_ROOT / "models", code / "models",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return code


def code_flags(code: Path) -> tuple[str, ...]:
    """`run` flags reading the default project from the copy; the schema stays the checkout's file."""
    config = PipelineConfig()
    return ("--models-dir", str(code / "models"), "--project", config.declaration.name,
            "--schema", str(config.schema_path))


def count_rows(folder: Path) -> int:
    """Data rows (lines after each header) of every CSV file in a folder."""
    total = 0
    for path in sorted(folder.glob("*.csv")):
        with path.open("rb") as handle:
            total += sum(1 for line in handle if line.strip()) - 1
    return total


def read_run(metadata_path: Path, pipeline_name: str) -> dict:
    """The latest run's components (state, seconds from MLMD) and the artifact uris we need."""
    store = connection.open_metadata(store_config({}, {"metadata_path": metadata_path}))
    run_id = records.latest_run_id(store, pipeline_name)
    components, artifacts = {}, {}
    outcome: dict[str, object] = {"blessed": None, "pushed_version": None,
                                  "approximations": None}
    for run in records.component_runs(store, run_id):
        components[run.node_id] = {"state": run.state, "seconds": round(run.seconds, 2),
                                   "started": run.started.timestamp(),
                                   "finished": run.finished.timestamp()}
        output_key = {EXAMPLE_GEN: EXAMPLES_KEY, TRAINER: MODEL_KEY, EVALUATOR: EVALUATION_KEY}.get(
            run.node_id)
        if output_key and run.outputs.get(output_key):
            artifacts[run.node_id] = run.outputs[output_key][0].uri
        outcome.update(run_outcome(run))
    return {"run_id": run_id, "components": components, "artifacts": artifacts, **outcome}


def run_outcome(run: records.ComponentRun) -> dict[str, object]:
    """What one component says about the run's result: the Evaluator's blessing, the version the
    Pusher published in this run (a cached Pusher's output was published by an earlier run), the
    approximations the run context recorded (`{}`: exact)."""
    found: dict[str, object] = {}
    for blessing in run.outputs.get(BLESSING_KEY, []):
        found["blessed"] = records.property_value(blessing, "blessed") == 1
    for pushed in run.outputs.get(PUSHED_MODEL_KEY, []) if run.state == "COMPLETE" else []:
        found["pushed_version"] = records.pushed_version(pushed)
    if run.node_id == RECORD_RUN_CONTEXT:
        for context in run.outputs.get(RUN_CONTEXT_KEY, []):
            found["approximations"] = recorded_approximations(
                records.property_value(context, "config"))
    return found


def recorded_approximations(config_text: object) -> dict:
    """The `approximations` mapping of the declaration a run context recorded ({}: none)."""
    if not isinstance(config_text, str) or not config_text.startswith("{"):
        return {}
    declared = json.loads(config_text).get("declaration", {})
    return declared.get("approximations") or {}


def peak_between(samples: list[tuple[float, float]], started: float, finished: float
                 ) -> float | None:
    """The largest memory sample taken while a component ran (None: none fell in its time)."""
    inside = [mib for when, mib in samples if started <= when <= finished]
    return max(inside) if inside else None


def served_versions(root: Path) -> list[int]:
    """The serving versions published under a pipeline state folder."""
    return layout.list_versions(layout.model_base_path(root / "serving_model",
                                                       PipelineConfig().model_name))


def trainer_model(run: dict) -> str | None:
    """The SavedModel a Trainer exported, if it ran."""
    uri = run["artifacts"].get(TRAINER)
    return str(Path(uri) / SERVING_FORMAT) if uri else None


def served_model(root: Path, cold: dict) -> tuple[str, str]:
    """The newest pushed version, or the Trainer's model when the Evaluator did not bless it."""
    base = layout.model_base_path(root / "serving_model", PipelineConfig().model_name)
    versions = layout.list_versions(base)
    if versions:
        return str(base / str(versions[-1])), "pushed"
    model = trainer_model(cold)
    if model is None:
        raise RuntimeError(f"no pushed model under {base}, no Trainer output in {cold['run_id']}")
    return model, "trainer (not blessed, not pushed)"


def scaling_point(scale: float, rows: int, cold: dict, train_steps: int) -> dict:
    """Per-component seconds and throughputs of one cold run."""
    executed = {node: c for node, c in cold["components"].items() if c["state"] == "COMPLETE"}
    seconds = {node: c["seconds"] for node, c in executed.items()}
    trainer_seconds = seconds.get(TRAINER)
    return {
        "scale": scale,
        "rows": rows,
        "seconds": cold["seconds"],
        "cpu_seconds": cold["cpu_seconds"],
        "peak_rss_mib": cold["peak_rss_mib"],
        "peak_tree_rss_mib": cold["peak_tree_rss_mib"],
        "load_before": cold["load_before"],
        "components": seconds,
        "component_peak_tree_rss_mib": {node: c.get("peak_tree_rss_mib")
                                        for node, c in executed.items()},
        "approximations": cold.get("approximations"),
        "rows_per_second": scaling.rows_per_second({"rows": rows, "components": seconds}),
        "train_steps_per_second": round(train_steps / trainer_seconds, 2)
        if trainer_seconds else None,
    }


def machine() -> dict:
    """Where and when the numbers were taken: they only compare on the same machine and load."""
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def options_json(options: SuiteOptions) -> dict:
    """The options as plain values."""
    values = dict(vars(options))
    return {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}
