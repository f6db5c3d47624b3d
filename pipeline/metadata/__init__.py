"""Read-only ML Metadata: store opening, runs, lineage, provenance, pushed versions, summaries."""
