"""The platform and its tooling reach a project's code only by the dotted paths its declaration
names: no module of pipeline/, tools/, benchmarks/ or dags/ imports models/<project>/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pipeline.config import MODELS_DIR, PROJECT_ROOT
from pipeline.config.project import project_names

PLATFORM = ("pipeline", "tools", "benchmarks", "dags")


def imported_modules(source: Path) -> set[str]:
    """Every absolute module name a file imports (`import a.b`, `from a.b import c`: a.b and a.b.c)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_bytes(), filename=str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_imported_modules_sees_both_import_forms(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("import models.x.label\nfrom models import y\n")
    assert {"models.x.label", "models.y"} <= imported_modules(source)


@pytest.mark.parametrize("folder", PLATFORM)
def test_no_platform_module_imports_a_projects_code(folder: str) -> None:
    projects = tuple(f"models.{name}" for name in project_names(MODELS_DIR))
    assert projects, "no bundled project found"
    found = [f"{path.relative_to(PROJECT_ROOT)}: {name}"
             for path in sorted((PROJECT_ROOT / folder).rglob("*.py"))
             for name in sorted(imported_modules(path))
             if name in projects or name.startswith(tuple(f"{p}." for p in projects))]
    assert not found
