"""Long-lived services a command starts: Airflow (launcher, scheduler preload, failure alerts),
its PostgreSQL, and MLflow's server for `ui`."""
