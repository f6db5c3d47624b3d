"""Content fingerprints of the files a run reads: data, user code and schema.

Files are hashed in chunks (CHUNK_BYTES at a time), never read whole into memory; the digests
are those of whole-file reads (sha256 of the same bytes in the same order). The data fingerprint
length-prefixes each file's name, link target and size (a run recorded before that answers
"changed since run <id>: data_fingerprint" once).
"""

from __future__ import annotations

import ast
import hashlib
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from pipeline.config import (
    PROJECT_ROOT,
    PipelineConfig,
)

CHUNK_BYTES = 1 << 20


def update_with_file(digest: hashlib._Hash, path: Path, chunk_bytes: int = CHUNK_BYTES) -> None:
    """Feed a file's bytes to `digest` chunk by chunk: same result as digest.update(read_bytes())."""
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)


def file_sha256(path: Path) -> str:
    """sha256 of one file's bytes, streamed."""
    digest = hashlib.sha256()
    update_with_file(digest, path)
    return digest.hexdigest()


def _field(digest: hashlib._Hash, value: bytes) -> None:
    """Feed one length-prefixed value, so no two different file sets give the same stream."""
    digest.update(len(value).to_bytes(8, "big"))
    digest.update(value)


def data_fingerprint(files: list[Path]) -> str:
    """sha256 over each file's name, link target, size and bytes (length-prefixed): any added,
    removed, renamed, edited or retargeted file changes it. `files` come from
    pipeline.data.input_files, the set CsvExampleGen reads."""
    digest = hashlib.sha256()
    for path in sorted(files):
        _field(digest, path.name.encode("utf-8", "surrogateescape"))
        target = os.readlink(path) if path.is_symlink() else ""
        _field(digest, target.encode("utf-8", "surrogateescape"))
        digest.update(path.stat().st_size.to_bytes(8, "big"))
        update_with_file(digest, path)
    return digest.hexdigest()


USER_CODE_DIR = PROJECT_ROOT / "models"


def files_fingerprint(paths: list[Path], root: Path) -> str:
    """sha256 over file names and contents, so any edit changes it."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(root)).encode())
        update_with_file(digest, path)
    return digest.hexdigest()


# Folders under models/ whose files no run reads: caches and each project's own tests.
NOT_RUN_FOLDERS = frozenset({"__pycache__", "tests"})


def user_code_fingerprint(code_dir: Path = USER_CODE_DIR) -> str:
    """Fingerprint of the user code and declarations under models/ (*.py, project.yaml): code passed
    by dotted path is otherwise invisible to TFX's cache. A project's tests are left out: editing
    them changes no run."""
    files = [*code_dir.rglob("*.py"), *code_dir.rglob("*.yaml")]
    return files_fingerprint(
        [f for f in files if not NOT_RUN_FOLDERS & set(f.relative_to(code_dir).parts)], code_dir)


def package_dir(top: str, search_path: Sequence[str]) -> Path | None:
    """The folder Python would import package `top` from: the first search-path entry holding it."""
    for entry in search_path:
        folder = Path(entry or ".") / top
        if folder.is_dir():
            return folder.resolve()
        if folder.with_suffix(".py").is_file():
            return None
    return None


def module_file(module: str, package: Path) -> Path | None:
    """The source file of dotted `module` inside the top-level package folder `package`."""
    base = package.joinpath(*module.split(".")[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(source: Path, module: str) -> set[str]:
    """Dotted names a module imports, relative ones made absolute; `from a import b` gives a and a.b
    (b may be a submodule)."""
    names: set[str] = set()
    is_package = source.name == "__init__.py"
    for node in ast.walk(ast.parse(source.read_bytes(), filename=str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = module.split(".")
            anchor = parts if is_package else parts[:-1]
            if node.level:
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _module_files(module: str, packages: Mapping[str, Path]) -> set[Path]:
    """The files of `module` and of every module it imports (transitively) within `packages`
    (top-level name -> folder), with their packages' __init__.py."""
    found: set[Path] = set()
    queue = [module]
    while queue:
        module = queue.pop()
        parts = module.split(".")
        package = packages.get(parts[0])
        if package is None:
            continue
        for depth in range(1, len(parts) + 1):
            name = ".".join(parts[:depth])
            path = module_file(name, package)
            if path is not None and path not in found:
                found.add(path)
                queue.extend(imported_modules(path, name))
    return found


def _search_path(search_path: Sequence[str] | None) -> list[str]:
    """Where top-level packages are looked up: the given path, else sys.path and the checkout."""
    return [*sys.path, str(PROJECT_ROOT)] if search_path is None else list(search_path)


def code_closure(function: str, search_path: Sequence[str] | None = None) -> tuple[Path, list[Path]]:
    """The files user code given by dotted path runs: its module, the modules of the same top-level
    package it imports (transitively) and their packages' __init__.py; (package folder, files)."""
    top = function.split(".")[0]
    package = package_dir(top, _search_path(search_path))
    if package is None:
        return Path(top), []
    return package, sorted(_module_files(function.rsplit(".", 1)[0], {top: package}))


def code_fingerprint(function: str, search_path: Sequence[str] | None = None) -> str:
    """sha256 of a dotted-path function's name and the files of its import closure: the cache key
    of the one component that runs it, blind to edits elsewhere under models/."""
    package, files = code_closure(function, search_path)
    digest = hashlib.sha256(function.encode())
    digest.update(files_fingerprint(files, package.parent).encode())
    return digest.hexdigest()


# The platform's package: user code imports its vocabulary and declaration reader.
PLATFORM_PACKAGE = "pipeline"


def project_files(models_dir: Path, project: str, functions: Sequence[str],
                  search_path: Sequence[str] | None = None) -> list[Path]:
    """Every file a project's runs read as code: its own folder (declaration and modules, not its
    tests), the import closure of its dotted-path functions (shared user code such as
    models/common included) and the platform modules that closure imports; nothing of another
    project."""
    folder = models_dir / project
    files = {f for f in [*folder.rglob("*.py"), *folder.rglob("*.yaml")]
             if not NOT_RUN_FOLDERS & set(f.relative_to(folder).parts)}
    path = _search_path(search_path)
    for function in functions:
        tops = (function.split(".")[0], PLATFORM_PACKAGE)
        packages = {top: found for top in tops if (found := package_dir(top, path)) is not None}
        files |= _module_files(function.rsplit(".", 1)[0], packages)
    return sorted(files)


def _file_label(path: Path, roots: Sequence[Path]) -> str:
    """A file's name relative to the first root holding it, so a moved checkout keeps its
    fingerprints."""
    for root in roots:
        if path.is_relative_to(root):
            return str(path.relative_to(root))
    return str(path)


def project_code_fingerprint(models_dir: Path, project: str, functions: Sequence[str],
                             search_path: Sequence[str] | None = None) -> str:
    """The project's code fingerprint that lineage, `versions`, reproduce and the up-to-date check
    compare: sha256 over the names and bytes of project_files (length-prefixed); adding, editing
    or deleting another project leaves it unchanged."""
    roots = (models_dir.resolve().parent, PROJECT_ROOT)
    digest = hashlib.sha256()
    for path in project_files(models_dir, project, functions, search_path):
        _field(digest, _file_label(path.resolve(), roots).encode("utf-8", "surrogateescape"))
        update_with_file(digest, path)
    return digest.hexdigest()


def config_code_fingerprint(config: PipelineConfig) -> str:
    """project_code_fingerprint of the project a config runs."""
    declaration = config.declaration
    return project_code_fingerprint(config.models_dir, config.project,
                                    (declaration.preprocessing_fn, declaration.run_fn))


def schema_fingerprint(config: PipelineConfig) -> str:
    """Fingerprint of the curated schema file, or 'inferred' when SchemaGen makes the schema."""
    if config.schema_path is None:
        return "inferred"
    return files_fingerprint([config.schema_path], config.schema_path.parent)
