"""Failure-test helpers: broken copies of the bundled sample, one per fault, and CLI runs."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

from models.taxi.label import BIG_TIP_FRACTION
from pipeline.config import PROJECT_ROOT, PipelineConfig
from pipeline.config.project import Treatment
from tests.support.configs import SAMPLE_DATA
from tools import taxi as features


def sample_lines() -> list[str]:
    """The sample CSV's lines, header first."""
    return (SAMPLE_DATA / "data.csv").read_text().splitlines()


def write_lines(folder: Path, lines: list[str], name: str = "data.csv") -> Path:
    """Write lines as one CSV file in `folder`; return the folder (what --data takes)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join(lines) + "\n")
    return folder


def column_index(lines: list[str], column: str) -> int:
    """Position of a column in the header."""
    return lines[0].split(",").index(column)


def set_column(lines: list[str], column: str, value: str, every: int) -> list[str]:
    """`column` set to `value` in every `every`-th data row."""
    index = column_index(lines, column)
    width = len(lines[0].split(","))
    result = [lines[0]]
    for number, line in enumerate(lines[1:]):
        cells = line.split(",")
        if len(cells) == width and number % every == 0:
            cells[index] = value
        result.append(",".join(cells))
    return result


def write_bad_sample(folder: Path, column: str, value: str, every: int) -> Path:
    """A copy of the sample with `column` set to `value` in every `every`-th row."""
    return write_lines(folder, set_column(sample_lines(), column, value, every))


def data_lines(config: PipelineConfig) -> list[str]:
    """The lines of the config's one CSV file (a bundled project's small data), header first."""
    (file,) = sorted(Path(config.data_dir).glob("*.csv"))
    return file.read_text().splitlines()


def first_feature(config: PipelineConfig, treatment: Treatment) -> str:
    """The project's first declared feature with this treatment: where a test puts bad values."""
    return next(f.name for f in config.declaration.features if f.treatment is treatment)


def write_bad_copy(folder: Path, config: PipelineConfig, column: str, value: str, every: int) -> Path:
    """A copy of the config's data with `column` set to `value` in every `every`-th row."""
    return write_lines(folder, set_column(data_lines(config), column, value, every))


def drop_column(lines: list[str], column: str) -> list[str]:
    """The same rows without one column."""
    index = column_index(lines, column)
    return [",".join(c for i, c in enumerate(line.split(",")) if i != index) for line in lines]


def shuffled_labels(lines: list[str], seed: int = 7) -> list[str]:
    """The sample with its labels permuted across rows: tips rewritten so that the big-tipper
    rule gives each row another row's label, whatever its features say."""
    fare_at = column_index(lines, features.FARE_KEY)
    tips_at = column_index(lines, features.TIPS_KEY)
    rows = [line.split(",") for line in lines[1:]]
    labelled = [r for r in rows if r[fare_at] and float(r[fare_at]) > 0 and r[tips_at]]
    labels = [float(r[tips_at]) > BIG_TIP_FRACTION * float(r[fare_at]) for r in labelled]
    random.Random(seed).shuffle(labels)
    for row, big in zip(labelled, labels, strict=True):
        tip = 2 * BIG_TIP_FRACTION * float(row[fare_at]) if big else 0.0
        row[tips_at] = f"{tip:.2f}"
    return [lines[0]] + [",".join(r) for r in rows]


def cli_command(config: PipelineConfig, *extra: str) -> list[str]:
    """`python -m pipeline run` on a config's folders, steps and threshold."""
    return [
        sys.executable, "-m", "pipeline", "run", "--data", str(config.data_dir),
        "--pipeline-root", str(config.pipeline_root), "--metadata", str(config.metadata_path),
        "--serving-dir", str(config.serving_dir), "--log-dir", str(config.log_dir),
        "--train-steps", str(config.train_steps), "--eval-steps", str(config.eval_steps),
        "--min-auc", str(config.min_auc), *extra,
    ]


def cli_run(config: PipelineConfig, *extra: str) -> subprocess.CompletedProcess:
    """Run the CLI to its end (for runs refused before TFX is imported)."""
    return subprocess.run(cli_command(config, *extra), cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=120)


def fake_served_version(config: PipelineConfig) -> Path:
    """A version 1 already in the serving dir, to check a refused run leaves it alone."""
    version = config.serving_dir / config.model_name / "1"
    version.mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"model v1")
    return version
