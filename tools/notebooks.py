"""Keep notebooks output-free in git and run them headless: `python -m tools.notebooks FILES`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import nbformat

from pipeline.config import PROJECT_ROOT

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"


def notebook_paths(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """The project's notebooks."""
    return sorted(folder.glob("*.ipynb"))


def has_outputs(notebook: nbformat.NotebookNode) -> bool:
    """Whether any code cell carries outputs or an execution count."""
    return any(cell.get("outputs") or cell.get("execution_count")
               for cell in notebook.cells if cell.cell_type == "code")


def strip(path: Path) -> bool:
    """Remove outputs and execution counts in place; True when the file changed."""
    notebook = nbformat.read(path, as_version=4)
    if not has_outputs(notebook):
        return False
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(notebook, path)
    return True


def execute(path: Path, environ: Mapping[str, str], timeout: int = 900) -> nbformat.NotebookNode:
    """Run every cell from the project root with the given environment; raise on the first error."""
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(PROJECT_ROOT)}})
    client.execute(env=dict(environ))
    return notebook


def main(argv: Sequence[str] | None = None) -> int:
    """Strip the given notebooks (default: all of notebooks/); print the ones changed."""
    parser = argparse.ArgumentParser(prog="python -m tools.notebooks", description=__doc__)
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default notebooks/*.ipynb)")
    args = parser.parse_args(argv)
    for path in args.paths or notebook_paths():
        if strip(path):
            print(f"stripped {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
