"""Runners (local, Airflow, Kubeflow) and what surrounds a run: lock, console, up-to-date check, reproduce."""
