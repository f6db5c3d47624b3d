"""Developer tooling outside the runtime package: notebook stripping, demo spans, synthetic data."""
