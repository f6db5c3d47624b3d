"""Process environment every entry point prepares before TensorFlow is imported."""

from __future__ import annotations

import os
import warnings
from collections.abc import MutableMapping

from pipeline.config import PROJECT_ROOT

REQUIRED_ENV = {
    # TF 2.16 defaults to Keras 3, which TFX's Transform layer and Trainer do not support.
    "TF_USE_LEGACY_KERAS": "1",
    # Keep TensorFlow's C++ info lines out of logs unless asked for.
    "TF_CPP_MIN_LOG_LEVEL": "1",
}


def prepare(environ: MutableMapping[str, str] = os.environ) -> None:
    """Set the TF variables, put the project on PYTHONPATH for Beam worker processes, and keep
    import-time notices of the Google client libraries off the console."""
    # They warn on import about Python 3.10 and grpcio versions the lock file pins on purpose: they
    # say nothing about a run and would break the one-line-per-component console.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.")
    for key, value in REQUIRED_ENV.items():
        environ.setdefault(key, value)
    paths = [p for p in environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(PROJECT_ROOT) not in paths:
        environ["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT), *paths])
