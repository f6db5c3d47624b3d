"""Input data: spans, pre-flight checks, ingest, fingerprints and schema helpers."""
