"""`--help` and the light commands answer without importing TensorFlow, TFMA, TFX or Beam.

Each command runs in a fresh interpreter on a tiny MLMD store built here (no pipeline run), then
reports which heavy packages ended up in sys.modules.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT
from tests.support.configs import current_context, small_config
from tests.support.mlmd_fake import evaluated_and_pushed_runs

# Each case starts a fresh interpreter: `make test-unit` skips it, `make test` runs it.
pytestmark = pytest.mark.slow
HEAVY = ("tensorflow", "tensorflow_model_analysis", "tfx", "apache_beam")
SCRIPT = f"""
import json, sys
from pipeline.__main__ import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
heavy = [m for m in {HEAVY!r} if m in sys.modules]
print("RESULT " + json.dumps({{"code": code, "heavy": heavy}}))
"""


def light(*argv: str) -> tuple[dict, str]:
    """Run `python -m pipeline ARGV` in a fresh process: its result and its stdout."""
    done = subprocess.run([sys.executable, "-c", SCRIPT, *argv], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=300)
    lines = done.stdout.splitlines()
    assert lines and lines[-1].startswith("RESULT "), done.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):]), done.stdout


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config's folders with two evaluated, pushed runs whose context is the config's own."""
    root = tmp_path_factory.mktemp("light")
    config = small_config(root)
    evaluated_and_pushed_runs(config.metadata_path, root, current_context(config))
    return root


def run_flags(root: Path) -> list[str]:
    """`run` flags giving exactly small_config(root)."""
    config = small_config(root)
    return ["--data", str(config.data_dir), "--pipeline-root", str(config.pipeline_root),
            "--metadata", str(config.metadata_path), "--serving-dir", str(config.serving_dir),
            "--log-dir", str(config.log_dir), "--train-steps", str(config.train_steps),
            "--eval-steps", str(config.eval_steps), "--min-auc", str(config.min_auc)]


def serving_flags(root: Path) -> list[str]:
    """serving-config and rollback flags reading small_config(root)'s store and served versions."""
    config = small_config(root)
    return ["--metadata", str(config.metadata_path), "--serving-dir", str(config.serving_dir)]


COMMANDS = {
    "help": lambda root: ["--help"],
    "runs": lambda root: ["runs", "--metadata", str(root / "metadata.sqlite")],
    "lineage": lambda root: ["lineage", "--metadata", str(root / "metadata.sqlite")],
    "lineage-json": lambda root: ["lineage", "--version", "1", "--json",
                                  "--metadata", str(root / "metadata.sqlite")],
    "diff": lambda root: ["diff", "run-1", "run-2", "--metadata", str(root / "metadata.sqlite")],
    "versions": lambda root: ["versions", "--metadata", str(root / "metadata.sqlite")],
    "serving-config": lambda root: [
        "serving-config", *serving_flags(root), "--output-dir", str(root / "serving_config")],
    "rollback": lambda root: [
        "rollback", *serving_flags(root), "--output-dir", str(root / "serving_config"), "--to", "1"],
    "run (nothing changed)": lambda root: ["run", *run_flags(root)],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_light_commands_do_not_import_tensorflow(root: Path, name: str) -> None:
    if name == "rollback":
        light(*COMMANDS["serving-config"](root))
    result, out = light(*COMMANDS[name](root))
    assert result["code"] == 0, out
    assert result["heavy"] == [], f"`{name}` imported {result['heavy']}"
    if name == "run (nothing changed)":
        assert "up to date  run run-2" in out
    if name == "lineage":
        assert "auc 0.9200" in out


def test_lineage_and_diff_read_the_recorded_metrics(root: Path) -> None:
    result, out = light(*COMMANDS["diff"](root))
    rows = {line[1:].split()[0]: line for line in out.splitlines()[1:-1]}
    assert rows["evaluation.metrics.auc"].split()[-2:] == ["0.9100", "0.9200"]
