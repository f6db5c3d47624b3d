"""`ui`'s server: reachable from this machine only, started through the SQLAlchemy shim, and a busy
port or a remote tracking server answered without starting anything."""

from __future__ import annotations

import contextlib
import io
import socket
from pathlib import Path

import pytest

from pipeline.mirror.settings import MirrorError, MirrorSettings
from pipeline.services import mlflow_cli, mlflow_server
from tests.support.mlflow_store import local_settings


def test_the_server_listens_on_localhost_through_the_shim(tmp_path: Path) -> None:
    command = mlflow_server.server_command(local_settings(tmp_path), 5123)
    assert command[1:4] == ["-m", "pipeline.services.mlflow_cli", "server"]
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--port") + 1] == "5123"
    assert command[command.index("--default-artifact-root") + 1] == (tmp_path / "artifacts").as_uri()


def test_the_shim_gives_sqlalchemy_1_4_the_names_mlflow_server_imports() -> None:
    import sqlalchemy

    mlflow_cli.alias_sqlalchemy_2_names()
    for name in ("Engine", "Connection", "Row", "ColumnElement", "Select", "Update"):
        assert hasattr(sqlalchemy, name), name


def test_a_busy_port_is_refused_before_starting(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(MirrorError, match="in use: pass --port"):
            mlflow_server.serve(local_settings(tmp_path), busy.getsockname()[1])


def test_a_remote_tracking_server_is_only_named(capsys) -> None:
    assert mlflow_server.serve(MirrorSettings("http://mlflow.internal:5000", None), 5000) == 0
    assert "http://mlflow.internal:5000" in capsys.readouterr().out


def test_the_ui_names_the_projects_runs_in_the_model_training_view() -> None:
    from pipeline.mirror.runs import runs_page

    settings = MirrorSettings("http://mlflow.internal:5000/", None)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        mlflow_server.serve(settings, 5000, runs_page("7"))
    assert ("http://mlflow.internal:5000/#/experiments/7/runs?workflowType=machine_learning"
            in out.getvalue())
