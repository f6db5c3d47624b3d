"""Schema environments: the curated schema declares TRAINING and SERVING, an inferred one none."""

from __future__ import annotations

TRAINING = "TRAINING"
SERVING = "SERVING"


def declared(schema: object, environment: str) -> str | None:
    """The environment if the schema declares it, else None (TFDV refuses undeclared ones)."""
    return environment if environment in schema.default_environment else None
