"""Batch scoring without a server: a pushed model's `serving_default` over CSV rows on Beam, the
scores file, the project's prediction log and the BatchScoring record in ML Metadata."""
