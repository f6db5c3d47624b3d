"""Config parsing: flags and env vars become one validated, frozen object; bad values name the field."""

from __future__ import annotations

import pytest

from pipeline.config import (
    PROJECT_ROOT,
    BeamMode,
    ConfigError,
    PipelineConfig,
    config_from_values,
)
from tests.support.configs import parse_run_args

SAMPLE = str(PROJECT_ROOT / "data" / "sample")


def test_defaults_point_at_the_bundled_data_and_curated_schema() -> None:
    config = parse_run_args([], {})
    assert (config.data_dir / "data.csv").is_file()
    assert config.schema_path is not None and config.schema_path.name == "schema.pbtxt"
    assert config.beam_mode is BeamMode.AUTO and config.enable_cache


def test_flags_override_env_which_override_defaults() -> None:
    env = {"PIPELINE_TRAIN_STEPS": "7", "PIPELINE_MIN_AUC": "0.6", "HOME": "/root"}
    config = parse_run_args(["--train-steps", "9", "--data", SAMPLE], env)
    assert config.train_steps == 9
    assert config.min_auc == 0.6
    assert str(config.data_dir) == SAMPLE


def test_models_dir_from_the_hidden_flag_or_the_env(tmp_path) -> None:
    """Projects outside the repository's models/ (as init --models-dir writes them): the flag wins."""
    for name in ("env_dir", "flag_dir"):
        project = tmp_path / name / "mine"
        project.mkdir(parents=True)
        text = (PROJECT_ROOT / "models" / "penguins" / "project.yaml").read_text()
        (project / "project.yaml").write_text(
            text.replace("data: data/penguins", f"data: {PROJECT_ROOT / 'data' / 'penguins'}")
                .replace("schema: models/penguins/schema.pbtxt", "schema: infer"))
    env = {"PIPELINE_MODELS_DIR": str(tmp_path / "env_dir")}
    assert parse_run_args(["--project", "mine"], env).models_dir == tmp_path / "env_dir"
    config = parse_run_args(["--project", "mine", "--models-dir", str(tmp_path / "flag_dir")], env)
    assert config.models_dir == tmp_path / "flag_dir" and config.declaration.task.value == "multiclass"


def test_schema_infer_selects_schemagen() -> None:
    assert parse_run_args(["--schema", "infer"], {}).schema_path is None


def test_multi_processing_passes_worker_count_to_beam() -> None:
    config = parse_run_args(["--beam-mode", "multi_processing", "--workers", "2"], {})
    assert config.beam_args == ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]


def test_config_is_frozen() -> None:
    with pytest.raises(AttributeError):
        PipelineConfig().train_steps = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"train_steps": "-5"}, "train_steps"),
        ({"min_auc": "1.5"}, "min_auc"),
        ({"min_auc": "abc"}, "min_auc"),
        ({"beam_mode": "turbo"}, "beam_mode"),
        ({"data_dir": "/nonexistent/data"}, "data_dir"),
        ({"schema_path": "/nonexistent/schema.pbtxt"}, "schema_path"),
        ({"workers": "-1"}, "workers"),
        ({"learning_rate": "0"}, "learning_rate"),
        ({"pipeline_name": "has space"}, "pipeline_name"),
        ({"model_name": "my-model"}, "model_name"),
        ({"eval_steps": "0"}, "eval_steps"),
        ({"batch_size": "0"}, "batch_size"),
        ({"train_steps": "ten"}, "train_steps"),
        ({"min_auc": "-0.1"}, "min_auc"),
        ({"min_auc": "nan"}, "min_auc"),
        ({"seed": "1.5"}, "seed"),
        ({"enable_cache": "maybe"}, "enable_cache"),
        ({"transform_statistics": "maybe"}, "transform_statistics"),
        ({"transform_tf2": "maybe"}, "transform_tf2"),
        ({"eval_plots": "2"}, "eval_plots"),
        ({"min_free_mb": "-1"}, "min_free_mb"),
        ({"max_row_bytes": "0"}, "max_row_bytes"),
        ({"data_dir": __file__}, "data_dir"),
    ],
)
def test_invalid_values_are_rejected_naming_the_field(values: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        config_from_values(values)


def test_env_values_are_validated_like_flags() -> None:
    with pytest.raises(ConfigError, match="invalid config train_steps: .*must be > 0, got -5"):
        parse_run_args([], {"PIPELINE_TRAIN_STEPS": "-5"})
    with pytest.raises(ConfigError, match="invalid config beam_mode: 'turbo'"):
        parse_run_args([], {"PIPELINE_BEAM_MODE": "turbo"})
    assert parse_run_args([], {"PIPELINE_ENABLE_CACHE": "no"}).enable_cache is False


def test_outputs_nothing_reads_are_computed_only_on_request() -> None:
    default = parse_run_args([], {})
    assert not default.transform_statistics and not default.eval_plots
    assert not default.transform_tf2
    flagged = parse_run_args(["--transform-statistics", "--eval-plots", "--transform-tf2"], {})
    assert flagged.transform_statistics and flagged.eval_plots and flagged.transform_tf2
    from_env = parse_run_args([], {"PIPELINE_TRANSFORM_STATISTICS": "yes",
                                   "PIPELINE_EVAL_PLOTS": "true", "PIPELINE_TRANSFORM_TF2": "1"})
    assert from_env.transform_statistics and from_env.eval_plots and from_env.transform_tf2


def test_cli_rejects_bad_flags_with_exit_code_2(capsys: pytest.CaptureFixture) -> None:
    from pipeline.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--train-steps", "-3"])
    assert exit_info.value.code == 2
    assert "--train-steps" in capsys.readouterr().err
    assert main(["run", "--data", "/nonexistent/data"]) == 2
    assert "data_dir" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--min-auc", "1.5"], "invalid config min_auc"),
        (["--min-free-mb", "-3"], "invalid config min_free_mb"),
        (["--beam-mode", "turbo"], "--beam-mode"),
        (["--max-row-bytes", "0"], "--max-row-bytes"),
    ],
)
def test_cli_exits_2_naming_the_field(argv: list[str], named: str, capsys) -> None:
    from pipeline.__main__ import main

    try:
        code = main(["run", *argv])
    except SystemExit as exit_info:
        code = exit_info.code
    assert code == 2
    assert named in capsys.readouterr().err


def test_auto_beam_mode_runs_big_inputs_with_a_worker_per_core(monkeypatch) -> None:
    from pipeline.config import MULTI_PROCESSING_MIN_BYTES

    monkeypatch.setattr("os.cpu_count", lambda: 2)
    config = PipelineConfig()
    assert config.beam_args == ["--direct_running_mode=in_memory"]
    small = config.for_input_size(MULTI_PROCESSING_MIN_BYTES - 1)
    assert small.beam_mode is BeamMode.IN_MEMORY
    big = config.for_input_size(MULTI_PROCESSING_MIN_BYTES)
    assert big.beam_args == ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    chosen = config.replace(beam_mode=BeamMode.IN_MEMORY)
    assert chosen.for_input_size(MULTI_PROCESSING_MIN_BYTES) is chosen
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert config.for_input_size(MULTI_PROCESSING_MIN_BYTES).beam_mode is BeamMode.IN_MEMORY


def test_the_beam_line_says_why_the_mode_was_chosen(monkeypatch) -> None:
    from pipeline.config import MULTI_PROCESSING_MIN_BYTES, BeamRunner

    monkeypatch.setattr("os.cpu_count", lambda: 2)
    config = PipelineConfig()
    assert config.beam_mode_reason(3 << 20) == "(auto: 3 MB of input CSV, under 48 MB)"
    assert config.beam_mode_reason(MULTI_PROCESSING_MIN_BYTES) == (
        "(auto: 48 MB of input CSV, at least 48 MB)")
    chosen = config.replace(beam_mode=BeamMode.MULTI_PROCESSING)
    assert chosen.beam_mode_reason(0) == "(chosen by --beam-mode)"
    cluster = config.replace(beam_runner=BeamRunner.PORTABLE, extra_beam_args=("--job_endpoint=x",))
    assert cluster.beam_mode_reason(MULTI_PROCESSING_MIN_BYTES) == ""
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert config.beam_mode_reason(MULTI_PROCESSING_MIN_BYTES) == "(auto: one core)"
