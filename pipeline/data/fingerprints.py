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
from collections.abc import Sequence
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


def code_closure(function: str, search_path: Sequence[str] | None = None) -> tuple[Path, list[Path]]:
    """The files user code given by dotted path runs: its module, the modules of the same top-level
    package it imports (transitively) and their packages' __init__.py; (package folder, files)."""
    top = function.split(".")[0]
    package = package_dir(top, [*sys.path, str(PROJECT_ROOT)] if search_path is None else search_path)
    if package is None:
        return Path(top), []
    found: set[Path] = set()
    queue = [function.rsplit(".", 1)[0]]
    while queue:
        module = queue.pop()
        parts = module.split(".")
        if parts[0] != top:
            continue
        for depth in range(1, len(parts) + 1):
            name = ".".join(parts[:depth])
            path = module_file(name, package)
            if path is not None and path not in found:
                found.add(path)
                queue.extend(imported_modules(path, name))
    return package, sorted(found)


def code_fingerprint(function: str, search_path: Sequence[str] | None = None) -> str:
    """sha256 of a dotted-path function's name and the files of its import closure: the cache key
    of the one component that runs it, blind to edits elsewhere under models/."""
    package, files = code_closure(function, search_path)
    digest = hashlib.sha256(function.encode())
    digest.update(files_fingerprint(files, package.parent).encode())
    return digest.hexdigest()


def project_code_fingerprint(models_dir: Path, functions: Sequence[str]) -> str:
    """The overall fingerprint lineage and reproduce compare: every file under `models_dir`, plus the
    code packages the dotted paths import from when they lie elsewhere (models_dir's default is
    the folder they import from, and then this is user_code_fingerprint(models_dir))."""
    packages = {code_closure(f)[0] for f in functions}
    folders = sorted({p for p in packages if p.is_absolute()} - {models_dir.resolve()})
    own = user_code_fingerprint(models_dir)
    if not folders:
        return own
    digest = hashlib.sha256(own.encode())
    for folder in folders:
        digest.update(str(folder).encode())
        digest.update(user_code_fingerprint(folder).encode())
    return digest.hexdigest()


def schema_fingerprint(config: PipelineConfig) -> str:
    """Fingerprint of the curated schema file, or 'inferred' when SchemaGen makes the schema."""
    if config.schema_path is None:
        return "inferred"
    return files_fingerprint([config.schema_path], config.schema_path.parent)
