"""The README's commands as steps a test can run: every ```bash, ```sh and ```console block, in order.

A bash/sh block is one command per line (a trailing backslash continues it). A console block is a
transcript: `$ COMMAND` lines, each followed by the output it prints; a `...` line stands for any
lines. Untagged blocks are illustrations (pipeline diagrams, timings) and are not run.

Commands that run until stopped or for longer than a test may take (`make test`, `make ui`) are
named in a marker comment in the README, one `COMMAND => TEXT` line each:

    <!-- readme-test: ...
    make ui => (Ctrl-C stops it)
    -->

such a command is started, must print TEXT before it ends or times out, and is then stopped with
Ctrl-C (SIGINT), as its reader would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# The fenced blocks a reader types into a shell.
RUN_LANGUAGES = ("bash", "sh", "console")
FENCE = re.compile(r"^```(?P<lang>[\w-]*)[ \t]*\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
MARKER = re.compile(r"<!--\s*readme-test:(?P<body>.*?)-->", re.S)
PROMPT = "$ "
ANY_LINES = "..."


@dataclass(frozen=True)
class Step:
    """One command of the README, what it must print (a console transcript), or the text that
    shows a long-running command has started (a marker line)."""

    command: str
    output: tuple[str, ...] | None = None
    started_when: str | None = None


def long_running(text: str) -> dict[str, str]:
    """The marker comments' `COMMAND => TEXT` lines."""
    found: dict[str, str] = {}
    for marker in MARKER.finditer(text):
        for line in marker.group("body").splitlines():
            command, arrow, shows = line.partition(" => ")
            if arrow:
                found[command.strip()] = shows.strip()
    return found


def _shell_lines(body: str) -> list[str]:
    """Commands of a bash/sh block: blank and comment-only lines dropped, continuations joined."""
    commands: list[str] = []
    pending = ""
    for line in body.splitlines():
        if pending:
            line = pending + "\n" + line
            pending = ""
        if line.rstrip().endswith("\\"):
            pending = line
        elif line.strip() and not line.lstrip().startswith("#"):
            commands.append(line.strip())
    if pending:
        commands.append(pending.strip())
    return commands


def _transcript(body: str) -> list[tuple[str, tuple[str, ...]]]:
    """Commands of a console block, each with the output lines under it."""
    steps: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith(PROMPT):
            steps.append((line[len(PROMPT):].strip(), []))
        elif steps:
            steps[-1][1].append(line.rstrip())
        elif line.strip():
            raise ValueError(f"console block starts with output, not a `{PROMPT}` command: {line!r}")
    return [(command, tuple(output)) for command, output in steps]


def steps(text: str) -> list[Step]:
    """Every command of the README's runnable blocks, in the order a reader meets them."""
    waits = long_running(text)
    found: list[Step] = []
    for block in FENCE.finditer(text):
        lang, body = block.group("lang"), block.group("body")
        if lang == "console":
            found += [Step(c, output=o, started_when=waits.get(c)) for c, o in _transcript(body)]
        elif lang in RUN_LANGUAGES:
            found += [Step(c, started_when=waits.get(bare_command(c))) for c in _shell_lines(body)]
    return found


def bare_command(command: str) -> str:
    """The command before a trailing `  # comment`, as the marker names it."""
    return re.split(r"\s+#\s", command, maxsplit=1)[0].strip()


def read(path: Path) -> list[Step]:
    """The steps of a README file."""
    return steps(path.read_text(encoding="utf-8"))


def matches(expected: tuple[str, ...], printed: list[str]) -> bool:
    """The printed lines are the expected ones, `...` standing for any lines (none included)."""
    if not expected:
        return not printed
    head, rest = expected[0], expected[1:]
    if head == ANY_LINES:
        return any(matches(rest, printed[i:]) for i in range(len(printed) + 1))
    return bool(printed) and printed[0].rstrip() == head and matches(rest, printed[1:])
