"""`compile-kfp`: the pipeline as a Kubeflow Pipelines v2 spec."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pipeline.config import (
    add_run_arguments,
    config_from_args,
)
from pipeline.config.secrets import mask_beam_args
from pipeline.run.kubeflow_runner import (
    ALLOW_LOCAL_FLAG,
    DEFAULT_IMAGE,
    compile_pipeline,
    default_output,
)


def _compile(args: argparse.Namespace) -> int:
    """`compile-kfp`: write the spec and say what it contains."""
    config = config_from_args(args, os.environ)
    output = args.output or default_output(config.project)
    spec = compile_pipeline(config, output, args.image, args.allow_local_paths)
    tasks = spec["pipelineSpec"]["root"]["dag"]["tasks"]
    print(
        f"wrote {output}: {len(tasks)} tasks (project {config.project}), "
        f"image {args.image}, pipeline root {config.pipeline_root}, "
        f"Beam args {' '.join(mask_beam_args(config.beam_args))}"
    )
    return 0


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`compile-kfp`: the run flags (--project included) plus where to write the spec and which
    image runs it."""
    parser = commands.add_parser(
        "compile-kfp", help="compile the pipeline to a Kubeflow Pipelines v2 / Vertex AI spec"
    )
    add_run_arguments(parser)
    parser.add_argument(
        "--output", type=Path,
        help="spec file: .json for Vertex AI, .yaml for Kubeflow (default "
             "state/kubeflow/<project>.json)",
    )
    parser.add_argument(
        "--image", default=DEFAULT_IMAGE,
        help=f"container image built from the Dockerfile, pushed where the cluster pulls from "
        f"(default {DEFAULT_IMAGE})",
    )
    parser.add_argument(
        ALLOW_LOCAL_FLAG, action="store_true",
        help="accept a local --data (inside the project: baked into the image) and a local "
             "--serving-dir (a volume every pod mounts at that path); refused by default",
    )
    parser.set_defaults(handler=_compile)
