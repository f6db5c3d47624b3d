"""git_dirty is about the project's own files: a modified, staged or untracked file among them
makes it dirty; another project's untracked folder does not."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pipeline.run import manifest


def git(root: Path, *args: str) -> None:
    """Run git in `root`, quietly, as a throwaway identity."""
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=root,
                   check=True, capture_output=True)


def test_untracked_and_modified_files_of_the_project_are_dirty(tmp_path: Path) -> None:
    project = tmp_path / "models" / "alpha"
    project.mkdir(parents=True)
    (project / "project.yaml").write_text("name: alpha\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "alpha")
    assert manifest.git_commit(tmp_path, [project])["dirty"] is False
    (tmp_path / "models" / "beta").mkdir()
    (tmp_path / "models" / "beta" / "project.yaml").write_text("name: beta\n")
    assert manifest.git_commit(tmp_path, [project])["dirty"] is False  # another project
    assert manifest.git_commit(tmp_path)["dirty"] is True  # the checkout as a whole
    (project / "label.py").write_text("X = 1\n")
    assert manifest.git_commit(tmp_path, [project])["dirty"] is True  # untracked in the project
    (project / "label.py").unlink()
    (project / "project.yaml").write_text("name: alpha\ntask: regression\n")
    assert manifest.git_commit(tmp_path, [project])["dirty"] is True  # modified


def test_a_whole_untracked_project_is_dirty(tmp_path: Path) -> None:
    (tmp_path / "README").write_text("x\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "first")
    project = tmp_path / "models" / "alpha"
    project.mkdir(parents=True)
    (project / "project.yaml").write_text("name: alpha\n")
    assert manifest.git_commit(tmp_path, [project, project / "project.yaml"])["dirty"] is True
