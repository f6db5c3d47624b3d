"""How the README's commands are read for tests/e2e/test_readme_e2e.py, and that the README's
markers and blocks stay runnable (no placeholder to fill in, no stale long-running marker)."""

from __future__ import annotations

import re

import pytest

from pipeline.config import PROJECT_ROOT
from tests.support import readme

TEXT = """
Intro with `inline code`.

```bash
make run    # comment kept in the command
# a comment line alone

make test
```

```
$ not run: an illustration
```

<!-- readme-test: started, then stopped
make test => All checks passed!
tool serve => listening
-->

```console
$ tool init demo
wrote demo
...
done
$ tool serve
```

```sh
echo a \\
  b
```

```python
print("not a shell")
```
"""


def test_runnable_blocks_become_steps_in_order() -> None:
    steps = readme.steps(TEXT)
    assert [s.command for s in steps] == [
        "make run    # comment kept in the command", "make test", "tool init demo", "tool serve",
        "echo a \\\n  b"]
    assert steps[1].started_when == "All checks passed!"
    assert steps[0].started_when is None
    assert steps[2].output == ("wrote demo", "...", "done")
    assert steps[3].started_when == "listening" and steps[3].output == ()


def test_a_console_block_that_starts_with_output_is_refused() -> None:
    with pytest.raises(ValueError, match="starts with output"):
        readme.steps("```console\nwrote demo\n$ tool\n```\n")


@pytest.mark.parametrize(("printed", "expected"), [
    (["wrote demo", "done"], True),
    (["wrote demo", "a", "b", "done"], True),
    (["wrote demo", "done", "extra"], False),
    (["wrote other", "done"], False),
    (["wrote demo"], False),
    (["wrote demo   ", "done"], True),
])
def test_transcript_matching(printed: list[str], expected: bool) -> None:
    assert readme.matches(("wrote demo", "...", "done"), printed) is expected


def test_exact_transcript_has_no_room_for_extra_lines() -> None:
    assert readme.matches(("a", "b"), ["a", "b"])
    assert not readme.matches(("a", "b"), ["a", "x", "b"])


def test_the_readme_commands_are_runnable_as_written() -> None:
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    steps = readme.steps(text)
    commands = [s.command for s in steps]
    assert commands, "the README shows no ```bash/```console block"
    # Placeholders a reader must fill in cannot be run as written.
    for command in commands:
        assert not re.search(r"\b(NAME|PATH|COLUMN)\b", command), command
    # Every long-running marker names a command the README shows (none is silently dropped).
    started = {readme.bare_command(s.command) for s in steps if s.started_when}
    assert set(readme.long_running(text)) == started
