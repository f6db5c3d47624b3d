"""Where `score`'s time goes: the CLI run in this process under cProfile, TensorFlow, Beam and
tfx_bsl imported (and timed) first, then the seconds of each phase read from the profile.

    python -m benchmarks.score_profile --output profile.json -- score --project P --data PATH ...

Phases nest (Beam's pipeline holds the model calls); cProfile slows Python-heavy phases more than
native ones, so the shares are a map of the cost, not a second stopwatch.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time
from collections.abc import Sequence
from pathlib import Path

# phase -> (a path suffix of the function's file, the function's name).
PHASES = {
    "choose the model (ML Metadata, serving dir)": ("pipeline/scoring/model_choice.py", "choose_model"),
    "read the CSV (Arrow's reader, typed columns)": ("pipeline/scoring/columns.py",
                                                      "read_columns"),
    "of it: the csv module's path (files Arrow leaves to it)": ("pipeline/serving/client.py",
                                                                "read_rows"),
    "encode tf.Examples (tfx_bsl's native encoder)": ("pipeline/scoring/inputs.py",
                                                       "encode_columns"),
    "Beam pipeline (the whole RunInference job)": ("pipeline/scoring/inference.py",
                                                   "signature_outputs"),
    "of it: pickle the pipeline definition": ("apache_beam/internal/pickler.py", "dumps"),
    "of it: model calls (one a record batch)": ("pipeline/scoring/signature_handler.py",
                                                "run_inference"),
    "of it: a batch's outputs written": ("pipeline/scoring/inference.py", "_write_outputs"),
    "outputs split into rows": ("pipeline/scoring/inference.py", "_rows"),
    "scores per row (score_values)": ("pipeline/scoring/inference.py", "score_values"),
    "write the scores file": ("pipeline/scoring/batch.py", "_stage_scores"),
    "write the prediction log": ("pipeline/scoring/prediction_log.py", "stage_batch"),
    "record in ML Metadata": ("pipeline/scoring/recording.py", "record_scoring"),
    "the whole command": ("pipeline/__main__.py", "main"),
}


def phase_seconds(stats: pstats.Stats) -> dict[str, float]:
    """Each phase's cumulative seconds (the largest entry when a name matches several)."""
    found: dict[str, float] = {}
    for (path, _, name), row in stats.stats.items():  # type: ignore[attr-defined]
        for phase, (suffix, function) in PHASES.items():
            if name == function and path.endswith(suffix):
                found[phase] = max(found.get(phase, 0.0), round(row[3], 2))
    return {phase: found[phase] for phase in PHASES if phase in found}


def main(argv: Sequence[str] | None = None) -> int:
    """Profile one `python -m pipeline` command and write its phases as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.score_profile", description=__doc__)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the pipeline command's arguments")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    started = time.monotonic()
    import apache_beam  # noqa: F401
    import tensorflow  # noqa: F401
    from apache_beam.ml.inference import base  # noqa: F401
    from tfx_bsl.coders import example_coder  # noqa: F401

    imports = time.monotonic() - started
    from pipeline.__main__ import main as pipeline_main

    profile = cProfile.Profile()
    profile.enable()
    try:
        code = pipeline_main(command)
    except SystemExit as stop:
        code = int(stop.code or 0)
    profile.disable()
    phases = {"imports (TensorFlow, Beam, tfx_bsl)": round(imports, 2),
              **phase_seconds(pstats.Stats(profile))}
    args.output.write_text(json.dumps({"exit_code": code, "phases": phases}, indent=2) + "\n")
    return int(code)


if __name__ == "__main__":
    raise SystemExit(main())
