"""The test session's isolation from the checkout, and the check that fails a session leaving files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipeline.config import PROJECT_ROOT, STATE_DIR, PipelineConfig
from tests.support import hermetic


def test_the_session_state_and_home_lie_outside_the_checkout() -> None:
    config = PipelineConfig(project="taxi")
    for path in (STATE_DIR, Path(config.pipeline_root), config.metadata_path, Path(config.serving_dir),
                 config.log_dir, Path(os.environ["HOME"])):
        assert not path.resolve().is_relative_to(PROJECT_ROOT), path


def test_a_command_started_by_a_test_inherits_the_session_state() -> None:
    shown = subprocess.run(
        [sys.executable, "-c", "from pipeline.config import STATE_DIR; print(STATE_DIR)"],
        capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    assert Path(shown.stdout.strip()) == STATE_DIR


def test_state_dir_defaults_to_the_checkout_and_follows_the_variable(tmp_path: Path) -> None:
    from pipeline.config.settings import state_dir

    assert state_dir({}) == PROJECT_ROOT / "state"
    assert state_dir({"PIPELINE_STATE_DIR": str(tmp_path / "s")}) == tmp_path / "s"


def test_leftovers_name_added_changed_and_removed_files(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "picture.png").write_text("a")
    (tmp_path / "kept.txt").write_text("a")
    (tmp_path / "code.py").write_text("a")
    (tmp_path / "data" / "edited.csv").write_text("a")
    (tmp_path / "gone.txt").write_text("a")
    (tmp_path / "__pycache__").mkdir()
    before = hermetic.snapshot(tmp_path)
    (tmp_path / "state" / "new.sqlite").write_text("x")
    (tmp_path / "data" / "edited.csv").write_text("bb")
    (tmp_path / "code.py").write_text("edited while the tests ran")
    (tmp_path / "docs" / "picture.png").write_text("a screenshot")
    (tmp_path / "gone.txt").unlink()
    (tmp_path / "__pycache__" / "m.pyc").write_text("x")
    found = hermetic.leftovers(before, hermetic.snapshot(tmp_path))
    assert found == [f"changed  {os.path.join('data', 'edited.csv')}",
                     f"changed  {os.path.join('docs', 'picture.png')}", "removed  gone.txt",
                     f"added    {os.path.join('state', 'new.sqlite')}"]
    assert "state/new.sqlite" in hermetic.report(found)


def test_a_session_that_leaves_a_file_in_the_checkout_fails(tmp_path: Path) -> None:
    """A real pytest session over a test that writes into the checkout exits non-zero, naming it."""
    marker = PROJECT_ROOT / "data" / f".leftover-probe-{os.getpid()}.txt"
    probe = tmp_path / "test_probe.py"
    probe.write_text(f"from pathlib import Path\n\ndef test_writes():\n"
                     f"    Path({str(marker)!r}).write_text('x')\n")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest",
             str(probe)], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300)
    finally:
        marker.unlink(missing_ok=True)
    assert done.returncode == 1, done.stdout[-2000:]
    assert "1 passed" in done.stdout
    assert f"added    data/{marker.name}" in done.stdout
