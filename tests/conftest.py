"""Shared fixtures: the TF environment, temporary state folders and one pipeline run per session."""

from __future__ import annotations

from pipeline import environment

# Entry point of the test process: TensorFlow must see these before anything imports it.
environment.prepare()
