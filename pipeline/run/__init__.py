"""Runners (local, Airflow, Kubeflow) and what a run needs around them: its manifest (what it reads), the
run lock, the store guard (consistency), the up-to-date check, the console, reproduce."""
