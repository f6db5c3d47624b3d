"""A finished run's records read back from its MLMD store, for the end-to-end tests."""

from __future__ import annotations

from pipeline.config import PipelineConfig
from pipeline.metadata import connection, records


def store_of(config: PipelineConfig):
    """A read-only handle on the run's MLMD store."""
    return connection.open_metadata(config)


def runs_by_node(config: PipelineConfig, run_id: str) -> dict[str, records.ComponentRun]:
    """The run's executions keyed by component id."""
    return {c.node_id: c for c in records.component_runs(store_of(config), run_id)}
