"""The DAG's docs name command lines that read the DAG's own store, and they parse."""

from __future__ import annotations

import shlex
from pathlib import Path

from pipeline.__main__ import main
from pipeline.config import config_from_values
from pipeline.run.airflow_runner import AirflowSettings, dag_documentation


def _commands(doc: str) -> list[list[str]]:
    """The `python -m pipeline ...` command lines of a doc, as argv after the module."""
    lines = [part.split("`")[0] for part in doc.split("`python -m pipeline ")[1:]]
    return [shlex.split(line) for line in lines]


def test_the_commands_read_the_dags_sqlite_store(tmp_path: Path, capsys) -> None:
    store = tmp_path / "airflow store" / "taxi.sqlite"
    config = config_from_values({"metadata_path": store, "pipeline_name": "taxi_prod"})
    doc = dag_documentation(config, AirflowSettings())["doc_md"]
    commands = _commands(doc)
    assert [c[0] for c in commands] == ["runs", "lineage", "mlflow-sync"]
    for argv in commands:
        assert argv[argv.index("--metadata") + 1] == str(store)
        assert argv[argv.index("--pipeline-name") + 1] == "taxi_prod"
    # It parses: a missing store is the command's error (exit 1), not a bad flag (exit 2).
    assert main(commands[0]) == 1
    assert "error:" in capsys.readouterr().err


def test_the_commands_name_a_metadata_server_without_its_password() -> None:
    config = config_from_values({
        "metadata_backend": "postgresql", "metadata_host": "db.internal", "metadata_database": "mlmd",
        "metadata_user": "mlmd", "metadata_password": "s3cret"})
    doc = dag_documentation(config, AirflowSettings())["doc_md"]
    argv = _commands(doc)[0]
    assert argv[argv.index("--metadata-host") + 1] == "db.internal"
    assert argv[argv.index("--metadata-port") + 1] == "5432"
    assert "s3cret" not in doc and "PIPELINE_METADATA_PASSWORD" in doc
