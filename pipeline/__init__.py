"""The TFX pipeline: config, graph, runners, lineage and serving helpers."""
