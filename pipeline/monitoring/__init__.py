"""Monitoring of production data: skew and drift checks, reports, and their Airflow DAG."""
