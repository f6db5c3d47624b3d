"""`make clean` asks before deleting state/, refuses while an Airflow launcher holds its home, and
never deletes served versions unless CLEAN_SERVED=1."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from pipeline.services import launcher_lock
from tools.clean import clean


def _state(tmp_path: Path, served: bool) -> Path:
    """A state folder with a store and, when asked, a served version."""
    state = tmp_path / "state"
    (state / "metadata").mkdir(parents=True)
    (state / "metadata" / "taxi.sqlite").write_bytes(b"store")
    if served:
        version = state / "airflow" / "state" / "serving_model" / "taxi" / "3"
        version.mkdir(parents=True)
        (version / "saved_model.pb").write_bytes(b"model")
    return state


def _never_asked(question: str) -> str:
    raise AssertionError(f"asked {question!r} although it had to refuse")


def test_it_asks_and_keeps_everything_unless_told_yes(tmp_path: Path, capsys) -> None:
    state = _state(tmp_path, served=False)
    questions: list[str] = []
    assert clean(state, False, lambda q: questions.append(q) or "n") == 1
    assert state.is_dir() and "nothing deleted" in capsys.readouterr().out
    assert questions and questions[0].startswith(f"delete {state} ")

    def no_terminal(question: str) -> str:
        raise EOFError

    assert clean(state, False, no_terminal) == 1 and state.is_dir()
    assert clean(state, False, lambda _: "yes") == 0 and not state.exists()


def test_served_versions_need_clean_served(tmp_path: Path, capsys) -> None:
    state = _state(tmp_path, served=True)
    assert clean(state, False, _never_asked) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: 1 served model version(s) under ")
    assert "serving_model/taxi/3" in err and "CLEAN_SERVED=1" in err
    assert clean(state, True, lambda _: "y") == 0 and not state.exists()


def test_a_running_airflow_launcher_refuses(tmp_path: Path, capsys) -> None:
    state = _state(tmp_path, served=False)
    with launcher_lock.held(state / "airflow", "http://127.0.0.1:8080"):
        assert clean(state, True, _never_asked) == 1
    err = capsys.readouterr().err
    assert f"Airflow is running on {state / 'airflow'}" in err and "stop it first" in err
    assert (state / "metadata" / "taxi.sqlite").is_file()
    assert clean(state, True, lambda _: "y") == 0, "free once the launcher is gone"


def test_nothing_to_clean(tmp_path: Path) -> None:
    assert clean(tmp_path / "absent", False, _never_asked) == 0


def test_what_a_killed_launcher_left_running_is_stopped_first(tmp_path: Path, capsys) -> None:
    state = _state(tmp_path, served=False)
    home = state / "airflow"
    home.mkdir()
    orphan = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        launcher_lock.record_children(home, [orphan.pid])
        assert clean(state, False, lambda _: "y") == 0
        assert orphan.wait(10) == -signal.SIGTERM and not state.exists()
        assert f"(pids {orphan.pid})" in capsys.readouterr().out
    finally:
        if orphan.poll() is None:
            orphan.kill()
