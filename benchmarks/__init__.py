"""Timing, scaling, comparison and serving benchmarks of the pipeline (`make bench`)."""
