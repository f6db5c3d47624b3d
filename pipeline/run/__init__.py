"""Runners (local, Airflow, Kubeflow) and what a run needs around them: what it reads (run_facts), the
run lock, the store guard (consistency), the up-to-date check, the console, reproduce."""
