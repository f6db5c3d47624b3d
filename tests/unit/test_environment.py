"""The process environment every entry point prepares."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import environment
from pipeline.config import PROJECT_ROOT

SCRIPT = """
import warnings
from pipeline import environment
environment.prepare({})
warnings.warn_explicit("unsupported Python", FutureWarning, "x.py", 1, module="google.api_core.x")
warnings.warn_explicit("a real problem", FutureWarning, "y.py", 1, module="pipeline.data.spans")
"""


def test_google_import_notices_stay_off_the_console_and_other_warnings_do_not() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "unsupported Python" not in done.stderr
    assert "a real problem" in done.stderr


def _package(root: Path, dotted: str, init: str) -> None:
    """A package folder `dotted` under root whose own __init__ runs `init`, with a module `leaf`."""
    folder = root.joinpath(*dotted.split("."))
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(init)
    (folder / "leaf.py").write_text("VALUE = 7\n")
    for parent in list(folder.relative_to(root).parents)[:-1]:
        (root / parent / "__init__.py").touch()


def test_a_skipped_package_init_never_runs_and_its_modules_still_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _package(tmp_path, "outer.catalogue", "raise RuntimeError('imports everything')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("outer", "outer.catalogue", "outer.catalogue.leaf"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    environment.skip_package_init("outer.catalogue")
    assert importlib.import_module("outer.catalogue.leaf").VALUE == 7
    assert importlib.import_module("outer").catalogue is sys.modules["outer.catalogue"]
    environment.skip_package_init("outer.catalogue")  # imported: left as it is
    (tmp_path / "lone.py").write_text("")
    with pytest.raises(ImportError, match="lone is not an installed package"):
        environment.skip_package_init("lone")


def test_an_imported_package_keeps_its_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _package(tmp_path, "full", "NAMES = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "full", raising=False)
    importlib.import_module("full")
    environment.skip_package_init("full")
    assert sys.modules["full"].NAMES == 1


def _imported_modules(path: Path) -> set[str]:
    """Every module a Python file imports, at any depth, `from a import b` as a and a.b."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_module_imports_the_tfx_v1_catalogue() -> None:
    """tfx.v1 imports every component and extension (Vertex AI's client: ~13 s of CPU per run)."""
    files = [p for folder in ("pipeline", "models", "dags")
             for p in (PROJECT_ROOT / folder).rglob("*.py")]
    assert len(files) > 50
    offenders = [str(p.relative_to(PROJECT_ROOT)) for p in files
                 if any(m == "tfx.v1" or m.startswith("tfx.v1.") for m in _imported_modules(p))]
    assert offenders == []
