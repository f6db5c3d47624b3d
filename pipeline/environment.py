"""Process environment every entry point prepares before TensorFlow is imported."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import warnings
from collections.abc import MutableMapping

from pipeline.config import PROJECT_ROOT

# tfx/components/__init__.py imports all 16 of TFX's components, InfraValidator's Kubernetes client
# and BulkInferrer among them (~4 s of CPU), for a run that uses 5; they are imported one by one.
TFX_COMPONENT_CATALOGUE = "tfx.components"

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


# TensorFlow's C++ log level where its output is the reader's page (a notebook): 3 keeps even the
# cuFFT/cuDNN/cuBLAS "Unable to register factory" errors and the TensorRT warning out; they are
# printed at import, about a GPU stack the pipeline does not use.
QUIET_NATIVE_LOG_LEVEL = "3"


def prepare_notebook(environ: MutableMapping[str, str] = os.environ) -> None:
    """prepare(), with TensorFlow's native log silenced: a notebook shows results, and any output on
    stderr is a red box in it. Called in a notebook's first cell, before anything imports TensorFlow."""
    environ["TF_CPP_MIN_LOG_LEVEL"] = QUIET_NATIVE_LOG_LEVEL
    prepare(environ)


def skip_package_init(name: str = TFX_COMPONENT_CATALOGUE) -> None:
    """Register a package without running its __init__, so importing one of its modules costs
    that module only; a no-op once the package is imported (its names are then all there)."""
    if name in sys.modules:
        return
    parent, _, child = name.rpartition(".")
    spec = importlib.util.find_spec(name)
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError(f"{name} is not an installed package")
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    if parent:
        setattr(importlib.import_module(parent), child, package)
