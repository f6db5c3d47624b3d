"""Read an Airflow metadata database (SQLite, as `airflow dags test` leaves it) without writing."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def query(db: Path, sql: str, *params: object) -> list[tuple]:
    """Read a SQLite Airflow database (of `airflow dags test`) without writing to it."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as connection:
        return connection.execute(sql, params).fetchall()


def task_states(db: Path, dag_id: str, run_id: str) -> dict[str, str | None]:
    """State of every task instance of one DAG run."""
    rows = query(db, "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?",
                  dag_id, run_id)
    return dict(rows)
