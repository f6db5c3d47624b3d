"""Your own data, any tabular task: `init` on generated CSV data, then `run --project` end to end.

One case per task. Each CSV has an id column (left out by init), a numeric, a categorical string and
an integer column, some empty cells, and a label the features predict; init writes the project into
a temporary models dir, and the run trains with tiny steps and pushes a model whose outputs are the
task's."""

from __future__ import annotations

import csv
import re
import socket
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from pipeline import vocabulary
from pipeline.__main__ import main
from pipeline.config.project import TASK_METRICS, Task, Treatment, load_project
from pipeline.serving import layout

pytestmark = pytest.mark.e2e
ROWS = 300
TRAIN_STEPS, EVAL_STEPS = 50, 5


def generated_rows(task: Task, seed: int) -> list[dict[str, object]]:
    """ROWS rows of id, size (float, 4 % empty), color (string), rooms (integer 0-5) and a label."""
    rng = np.random.default_rng(seed)
    size = rng.normal(50, 10, ROWS).round(2)
    color = rng.choice(["red", "green", "blue"], ROWS)
    rooms = rng.integers(0, 6, ROWS)
    score = (size - 50) / 10 + 1.5 * (color == "red") + 0.4 * rooms + rng.normal(0, 0.5, ROWS)
    if task is Task.BINARY:
        label: list[object] = np.where(score > np.median(score), "yes", "no").tolist()
    elif task is Task.MULTICLASS:
        low, high = np.quantile(score, [1 / 3, 2 / 3])
        label = np.select([score < low, score < high], ["low", "mid"], "high").tolist()
    else:
        label = (10 * score + 100).round(3).tolist()
    return [{"id": i + 1, "size": "" if i % 25 == 3 else size[i], "color": color[i],
             "rooms": int(rooms[i]), "target": label[i]} for i in range(ROWS)]


def write_csv(folder: Path, rows: list[dict[str, object]]) -> Path:
    folder.mkdir(parents=True)
    with (folder / "data.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder


def serialized(rows: list[dict[str, object]]) -> list[bytes]:
    """The rows as a TF Serving client sends them: tf.Examples without the label."""
    def value(cell: object) -> tf.train.Feature:
        if isinstance(cell, str):
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=[cell.encode()]))
        if isinstance(cell, int):
            return tf.train.Feature(int64_list=tf.train.Int64List(value=[cell]))
        return tf.train.Feature(float_list=tf.train.FloatList(value=[float(cell)]))  # type: ignore[arg-type]
    return [tf.train.Example(features=tf.train.Features(feature={
        key: value(cell) for key, cell in row.items() if key != "target" and cell != ""
    })).SerializeToString() for row in rows]


@pytest.mark.parametrize("task", list(Task), ids=[t.value for t in Task])
def test_init_then_run_pushes_a_model_with_the_task_outputs(
    task: Task, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two commands as `python -m pipeline` runs them, in this process (a fresh interpreter
    each would add TensorFlow's import twice per case)."""
    name = f"generated_{task.value}"
    rows = generated_rows(task, seed=list(Task).index(task))
    data = write_csv(tmp_path / "data" / name, rows)
    models = tmp_path / "models"
    assert main(["init", name, "--data", str(data), "--label", "target",
                 "--models-dir", str(models)]) == 0
    assert f"label: target -> {task.value}" in capsys.readouterr().out
    project = load_project(name, models)
    treatments = {f.name: f.treatment for f in project.features}
    assert treatments == {"size": Treatment.NUMERIC, "color": Treatment.VOCABULARY,
                          "rooms": Treatment.NUMERIC}  # a count keeps its order
    assert "id" in project.excluded

    assert project.baseline_margin is not None and not project.thresholds
    # TRAIN_STEPS keeps this test fast, far too few to match a linear model on the same split: the
    # baseline gate (tested in tests/unit/graph/test_baseline_gate.py) gets a margin that only a
    # broken model misses, so this test checks the path from init to a served model.
    declaration = models / name / "project.yaml"
    text = declaration.read_text()
    assert f"baseline_margin: {project.baseline_margin}" in text
    declaration.write_text(text.replace(f"baseline_margin: {project.baseline_margin}",
                                        "baseline_margin: 0.5"))
    monkeypatch.setenv("PIPELINE_MODELS_DIR", str(models))  # run finds the project as init wrote it
    serving = tmp_path / "serving"
    with socket.socket() as closed:  # an MLflow tracking server that is not there
        closed.bind(("127.0.0.1", 0))
        tracking = f"http://127.0.0.1:{closed.getsockname()[1]}"
    code = main(["run", "--project", name, "--pipeline-root", str(tmp_path / "root"),
                 "--metadata", str(tmp_path / "metadata.sqlite"), "--serving-dir", str(serving),
                 "--log-dir", str(tmp_path / "logs"), "--train-steps", str(TRAIN_STEPS),
                 "--eval-steps", str(EVAL_STEPS), "--tracking-uri", tracking,
                 "--wait-for-mirror"])  # the mirror's warning on this process's stderr
    out, err = capsys.readouterr()
    assert code == 0, err[-3000:]
    warnings = [line for line in err.splitlines() if line.startswith("warning: MLflow")]
    assert len(warnings) == 1 and tracking in warnings[0]  # the run succeeds: one warning
    metrics = "  ".join(rf"{m.name} -?\d+\.\d{{4}}" for m in TASK_METRICS[task])
    assert re.search(rf"^eval\s+{metrics}$", out, re.M), out
    assert re.search(r"^model\s+BLESSED", out, re.M), out
    # The reference models ran on the same split, and the linear one set the blessing bound.
    assert re.search(rf"^baseline\s+linear {metrics}; majority ", out, re.M), out
    base = layout.model_base_path(serving, name)
    assert layout.list_versions(base) == [1] and (base / "1" / "saved_model.pb").is_file()

    complete = [row for row in rows if row["size"] != ""][:8]
    outputs = tf.saved_model.load(str(base / "1")).signatures[vocabulary.SERVING_SIGNATURE](
        examples=tf.constant(serialized(complete)))
    assert set(outputs) == set(vocabulary.task_outputs(project.task))
    if task is Task.REGRESSION:
        prediction = outputs[vocabulary.PREDICTION_OUTPUT].numpy()
        assert prediction.shape == (8, 1) and np.all(np.isfinite(prediction))
        return
    probabilities = outputs[vocabulary.PROBABILITIES_OUTPUT].numpy()
    assert probabilities.shape == (8, 1 if task is Task.BINARY else 3)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    if task is Task.MULTICLASS:
        classes = [c.decode() for c in outputs[vocabulary.CLASSES_OUTPUT].numpy()]
        assert classes == [project.classes[i] for i in probabilities.argmax(axis=1)]
        assert set(project.classes) == {"low", "mid", "high"}
