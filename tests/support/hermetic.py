"""A test session never touches the checkout: its defaults point at a temporary tree, and whatever
a session leaves in the checkout fails the run, naming the files."""

from __future__ import annotations

import os
from collections.abc import Iterable, MutableMapping
from pathlib import Path

# Folders of the checkout a session may write: tools' environments and caches of Python's tooling.
NOT_WATCHED = frozenset({".git", ".venv", ".tools", "__pycache__", ".pytest_cache", ".ruff_cache",
                         ".mypy_cache", ".ipynb_checkpoints", ".hypothesis"})

# A changed Python file is someone editing code while the tests run; any other changed file (data,
# state, notebooks, docs' images, a declaration) is a test writing where it should not.
EDITED_WHILE_TESTING = (".py",)

# One entry per file: (size, modification time in ns); a rewritten file changes at least the time.
Snapshot = dict[str, tuple[int, int]]


def isolate(environ: MutableMapping[str, str], tree: Path) -> None:
    """Point every default a command falls back to (state/, the home folder) at `tree`, for this
    process and every command it starts."""
    (tree / "state").mkdir(parents=True, exist_ok=True)
    (tree / "home").mkdir(parents=True, exist_ok=True)
    environ["PIPELINE_STATE_DIR"] = str(tree / "state")
    environ["HOME"] = str(tree / "home")
    for name in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        environ.pop(name, None)


def snapshot(root: Path) -> Snapshot:
    """Every file under root, but in the folders a session may write."""
    found: Snapshot = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in NOT_WATCHED]
        for name in files:
            path = os.path.join(folder, name)
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                continue
            found[os.path.relpath(path, root)] = (info.st_size, info.st_mtime_ns)
    return found


def leftovers(before: Snapshot, after: Snapshot) -> list[str]:
    """What a session added, changed or removed, one line per file, sorted."""
    added = [f"added    {p}" for p in after.keys() - before.keys()]
    removed = [f"removed  {p}" for p in before.keys() - after.keys()]
    changed = [f"changed  {p}" for p in before.keys() & after.keys()
               if before[p] != after[p] and not p.endswith(EDITED_WHILE_TESTING)]
    return sorted(added + removed + changed, key=lambda line: line[9:])


def report(lines: Iterable[str], limit: int = 40) -> str:
    """The message a failed session prints: the first files, and how many there are."""
    shown = list(lines)
    more = f"\n  ... and {len(shown) - limit} more" if len(shown) > limit else ""
    return ("the test session left files behind in the checkout (tests must use their own "
            "folders):\n  " + "\n  ".join(shown[:limit]) + more)
