"""How a command's process ends: the ordinary way, or past native teardown that can abort it."""

from __future__ import annotations

import sys
import types

import pytest

from pipeline import __main__ as entry


class Ended(Exception):
    """Raised instead of ending the test process; carries which exit was taken."""


def _exits(monkeypatch: pytest.MonkeyPatch, loaded: tuple[str, ...]) -> str:
    """Which exit exit_quietly takes with only these native libraries loaded."""
    modules = {k: v for k, v in sys.modules.items() if k not in entry.UNSAFE_TEARDOWN}
    modules.update({name: types.ModuleType(name) for name in loaded})
    monkeypatch.setattr(sys, "modules", modules)
    monkeypatch.setattr(entry.atexit, "_run_exitfuncs", lambda: None)

    def os_exit(code: int) -> None:
        raise Ended(f"os._exit({code})")

    def sys_exit(code: int) -> None:
        raise Ended(f"sys.exit({code})")

    monkeypatch.setattr(entry.os, "_exit", os_exit)
    monkeypatch.setattr(entry.sys, "exit", sys_exit)
    with pytest.raises(Ended) as ended:
        entry.exit_quietly(3)
    return str(ended.value)


@pytest.mark.parametrize("library", ["tensorflow", "pyarrow"])
def test_a_command_that_loaded_a_native_library_skips_its_teardown(monkeypatch, library: str) -> None:
    assert _exits(monkeypatch, (library,)) == "os._exit(3)"


def test_a_light_command_exits_the_ordinary_way(monkeypatch) -> None:
    assert _exits(monkeypatch, ()) == "sys.exit(3)"
