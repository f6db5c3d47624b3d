"""No TFX package built for Beam workers that already run this installation.

TFX's Beam-based executors (ExampleGen, StatisticsGen, Transform, Evaluator) give Beam an sdist of
TFX for remote workers whenever the Beam args name no package or container image: each one copies
the installed `tfx` folder (42 MB) into a temp folder it never removes and runs `setup.py sdist`,
about 2 s per component and 170 MB of /tmp per run. The DirectRunner's workers are this process or
its children, which import the same installation; remote runners keep TFX's behaviour (or use the
project image given with --sdk_container_image, see docs/scaling.md).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

# The runner Beam picks when --runner is absent, under its accepted spellings.
LOCAL_RUNNERS = frozenset({None, "DirectRunner", "direct", "BundleBasedDirectRunner",
                           "SwitchingDirectRunner"})


def runs_locally(beam_pipeline_args: Sequence[str]) -> bool:
    """True when the args run Beam in this process or its children (no worker to ship code to)."""
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    runner = PipelineOptions(flags=list(beam_pipeline_args)).view_as(StandardOptions).runner
    return runner in LOCAL_RUNNERS


def skip_tfx_package_for_local_beam() -> None:
    """Make TFX's Beam dependency flags a no-op for the DirectRunner (idempotent)."""
    from tfx.utils import dependency_utils

    current = dependency_utils.make_beam_dependency_flags
    if getattr(current, "skips_local_runner", False):
        return
    dependency_utils.make_beam_dependency_flags = _local_aware(current)  # type: ignore[assignment]


def _local_aware(original: Callable[[list[str]], list[str]]) -> Callable[[list[str]], list[str]]:
    """`original` for remote runners; the args unchanged for the DirectRunner."""
    @functools.wraps(original)
    def flags(beam_pipeline_args: list[str]) -> list[str]:
        if runs_locally(beam_pipeline_args):
            return list(beam_pipeline_args)
        return original(beam_pipeline_args)

    flags.skips_local_runner = True  # type: ignore[attr-defined]
    return flags
