"""The test process's environment, for the platform's tests (tests/) and each project's own
(models/<name>/tests/) alike: TensorFlow must see it before anything imports it."""

from __future__ import annotations

import os

from pipeline import environment

environment.prepare()
# Pipeline runs in tests (in-process or `python -m pipeline run` subprocesses) do not mirror
# themselves into MLflow unless a test asks for it (--tracking-uri, or deleting this variable):
# the mirror's own tests cover that, and the other runs stay as fast as before it existed.
os.environ.setdefault("PIPELINE_TRACKING_URI", "off")
