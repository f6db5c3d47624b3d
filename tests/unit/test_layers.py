"""Imports only point down: every `pipeline` module imports its own package or a lower layer.

The layers are written down once, here, as data. Every module under pipeline/ is parsed with
`ast` (imports at module level and inside functions alike), mapped to its package, and a
failure names the importing file, its line and the target that sits higher or beside it.
"""

from __future__ import annotations

import ast
from pathlib import Path

from pipeline.config import PROJECT_ROOT

PIPELINE = PROJECT_ROOT / "pipeline"

# Top to bottom. A package may import its own modules and any package of a LOWER rank; packages
# of one rank never import each other. A top-level module (`errors.py`) counts as a package.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("__main__",),                  # `python -m pipeline`: parse, dispatch, exit codes
    ("cli",),                       # every subcommand
    ("run", "monitoring", "scoring"),  # runners; skew, drift and their DAG; batch scoring
    ("services",),                  # long-lived processes a command starts: Airflow, PostgreSQL, MLflow
    ("mirror",),                    # MLflow as a derived view of ML Metadata
    ("graph",),                     # the TFX DSL: the graph and the custom components
    ("data", "serving", "analysis"),  # input data; TF Serving; the notebooks' tables and figures
    ("metadata",),                  # read-only ML Metadata
    ("environment", "logs"),        # process environment before TensorFlow; log masking, private files
    ("config",),                    # the typed config, its sources and the project declaration
    ("errors", "vocabulary"),       # the error hierarchy; the names every layer shares
)

RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}


def module_name(path: Path, root: Path = PROJECT_ROOT) -> str:
    """`pipeline/run/local_runner.py` -> `pipeline.run.local_runner` (a package is its __init__)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(module: str) -> str:
    """The layer a module belongs to: the name after `pipeline.` (`pipeline` itself is the top)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__main__"


def imported(path: Path, root: Path = PROJECT_ROOT) -> list[tuple[int, str, bool]]:
    """(line, target module, inside a function) for every `pipeline` import of a file."""
    module, tree = module_name(path, root), ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str, bool]] = []

    def visit(node: ast.AST, deferred: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = deferred or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((child.lineno, alias.name, deferred) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                found.extend((child.lineno, target, deferred) for target in _targets(child, package))
            visit(child, inside)

    visit(tree, False)
    return [(line, target, deferred) for line, target, deferred in found
            if target == "pipeline" or target.startswith("pipeline.")]


def _targets(node: ast.ImportFrom, package: str) -> list[str]:
    """The modules a `from` import reaches: `from pipeline import errors` reaches pipeline.errors."""
    if node.level:
        base = package.split(".")[: len(package.split(".")) - node.level + 1]
        origin = ".".join(base + ([node.module] if node.module else []))
    else:
        origin = node.module or ""
    if origin == "pipeline" or (node.level and not node.module):
        return [f"{origin}.{alias.name}" for alias in node.names]
    return [origin]


def upward_imports(package: Path = PIPELINE) -> list[tuple[str, int, str, bool]]:
    """(file, line, target, deferred) of every import that does not point down."""
    found = []
    for path in sorted(package.rglob("*.py")):
        source = module_name(path, package.parent)
        for line, target, deferred in imported(path, package.parent):
            here, there = package_of(source), package_of(target)
            if here != there and RANK[there] <= RANK[here]:
                found.append((str(path.relative_to(package.parent)), line, target, deferred))
    return found


def test_every_package_has_a_layer() -> None:
    """A new package (or top-level module) is placed in LAYERS before anything imports it."""
    packages = {package_of(module_name(path)) for path in PIPELINE.rglob("*.py")}
    assert packages <= set(RANK), f"not in LAYERS: {sorted(packages - set(RANK))}"


def test_imports_only_point_down() -> None:
    """No module imports a package of its own rank or above (module level or inside a function)."""
    lines = [f"{path}:{line}: imports {target}" + (" (inside a function)" if deferred else "")
             for path, line, target, deferred in upward_imports()]
    assert not lines, "imports pointing up or sideways:\n" + "\n".join(lines)


def test_an_import_reaching_up_or_sideways_is_named_with_its_line(tmp_path: Path) -> None:
    """The check itself: a lower package importing a higher one, or one of its own rank, fails."""
    package = tmp_path / "pipeline"
    (package / "metadata").mkdir(parents=True)
    (package / "metadata" / "reader.py").write_text(
        "from pipeline.config import settings\n\n\ndef show():\n    from pipeline.cli import lineage\n")
    (package / "data").mkdir()
    (package / "data" / "spans.py").write_text("from pipeline.serving import layout\n")
    assert upward_imports(package) == [
        ("pipeline/data/spans.py", 1, "pipeline.serving", False),
        ("pipeline/metadata/reader.py", 5, "pipeline.cli", True),
    ]
