"""Run TFX's own native-Keras Chicago taxi example, from the installed package, on given data.

Its `_create_pipeline` is called as shipped; only the paths (and, when asked, the Trainer's step
count, which the example hard-codes) are ours. LocalDagRunner runs it, like our pipeline.
TFX packages a module_file as a wheel and each component pip-installs it (`python -m pip`); the
uv venv has no pip, so the base interpreter's pip package alone is put on the child's PYTHONPATH.

    python -m benchmarks.tfx_example --data DIR --root DIR [--train-steps N]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pipeline.vocabulary import TRAINER

PIPELINE_NAME = "chicago_taxi_native_keras"
EXAMPLE_MODULE = "tfx.examples.chicago_taxi_pipeline.taxi_pipeline_native_keras"
UTILS_FILE = "taxi_utils_native_keras.py"
# The label and metric names the example uses (for reading its outputs).
LABEL_KEY = "tips_xf"
OUTPUT_KEY = "outputs"


class MissingPipError(RuntimeError):
    """TFX's module-file packaging needs pip, found neither in the venv nor the base Python."""


def expose_base_pip(folder: Path) -> Path:
    """A folder holding only a link to the base interpreter's pip, for PYTHONPATH."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    pip = Path(sys.base_prefix) / "lib" / version / "site-packages" / "pip"
    if not pip.is_dir():
        raise MissingPipError(f"no pip at {pip}: TFX cannot install the example's module file")
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "pip"
    if not link.exists():
        link.symlink_to(pip, target_is_directory=True)
    return folder


def paths(root: Path) -> dict[str, Path]:
    """Where the example's run keeps its artifacts, metadata and pushed models."""
    return {
        "pipeline_root": root / "pipeline_root",
        "metadata": root / "metadata.sqlite",
        "serving": root / "serving_model",
    }


def build(data: Path, root: Path, train_steps: int | None):
    """The example's pipeline over `data`, everything written under `root`."""
    import importlib

    from tfx.proto import trainer_pb2
    from tfx.utils import proto_utils

    example = importlib.import_module(EXAMPLE_MODULE)
    where = paths(root)
    pipeline = example._create_pipeline(
        pipeline_name=PIPELINE_NAME,
        pipeline_root=str(where["pipeline_root"]),
        data_root=str(data),
        module_file=str(Path(example.__file__).with_name(UTILS_FILE)),
        serving_model_dir=str(where["serving"]),
        metadata_path=str(where["metadata"]),
        beam_pipeline_args=example._beam_pipeline_args,
    )
    if train_steps is not None:
        trainer = next(c for c in pipeline.components if c.id == TRAINER)
        # The component keeps its TrainArgs as proto JSON: change only the step count.
        train_args = proto_utils.json_to_proto(
            trainer.exec_properties["train_args"], trainer_pb2.TrainArgs()
        )
        train_args.num_steps = train_steps
        trainer.exec_properties["train_args"] = proto_utils.proto_to_json(train_args)
    return pipeline


def main(argv: Sequence[str] | None = None) -> int:
    """Run the example once; a failure exits non-zero with TFX's traceback in the output."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tfx_example", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="folder with the CSV file(s)")
    parser.add_argument("--root", type=Path, required=True, help="folder for everything it writes")
    parser.add_argument("--train-steps", type=int, help="override the example's 1000 steps")
    args = parser.parse_args(argv)
    from pipeline import environment

    environment.prepare()
    # Not importlib.util.find_spec("pip"): setuptools' distutils shim reacts to that lookup.
    if not any((Path(entry) / "pip").is_dir() for entry in sys.path if entry):
        paths_now = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        extra = str(expose_base_pip(args.root / "pip"))
        os.environ["PYTHONPATH"] = os.pathsep.join([*paths_now, extra])
    from absl import logging as absl_logging
    from tfx import v1 as tfx

    absl_logging.set_verbosity(absl_logging.INFO)
    args.root.mkdir(parents=True, exist_ok=True)
    tfx.orchestration.LocalDagRunner().run(build(args.data, args.root, args.train_steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
