"""Secrets in the config: a password type that never shows itself, and Beam options that carry
credentials, masked by their names (never by searching text for the secret's characters)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

MASK = "****"

# A Beam option whose name contains one of these carries a credential (or names where one is):
# --s3_secret_access_key, --aws_session_token, --hdfs_password, --service_account_key_file, ...
CREDENTIAL_WORDS = ("key", "token", "passw", "secret", "credential", "auth")

_OPTION = re.compile(r"--?([A-Za-z0-9_.-]+)(=.*)?", re.DOTALL)


class Secret:
    """A password held so that repr, str, format and logging show only MASK; the one way to the
    value is reveal(), called where a connection config is built."""

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str = "") -> None:
        object.__setattr__(self, "_value", str(value))

    def reveal(self) -> str:
        """The value itself, for the connection config only."""
        return self._value

    def __setattr__(self, name: str, value: object) -> None:
        """Immutable, like the frozen config holding it."""
        raise AttributeError("a Secret cannot be changed")

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __repr__(self) -> str:
        return f"Secret({MASK if self._value else ''!r})"

    def __str__(self) -> str:
        return MASK if self._value else ""

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def secret(value: str | Secret) -> Secret:
    """A Secret from a string (env or flag value) or an existing Secret."""
    return value if isinstance(value, Secret) else Secret(value)


def is_credential_option(name: str) -> bool:
    """Whether a Beam option's name says it carries a credential."""
    lowered = name.lower()
    return any(word in lowered for word in CREDENTIAL_WORDS)


def mask_arg(arg: str, after_bare_option: bool = False) -> tuple[str, bool]:
    """One Beam arg masked, given whether it follows a bare credential option (`--name value`);
    returns it and whether the next arg is such a value."""
    if after_bare_option:
        return MASK, False
    match = _OPTION.fullmatch(arg)
    if not match or not is_credential_option(match.group(1)):
        return arg, False
    if match.group(2) is None:
        return arg, True
    return f"{arg[:match.start(2)]}={MASK}", False


def mask_beam_args(args: Iterable[str]) -> list[str]:
    """Beam args with the value of every credential option replaced by MASK, whether written
    --name=value or --name value; everything else unchanged."""
    masked: list[str] = []
    hide_next = False
    for arg in args:
        shown, hide_next = mask_arg(arg, hide_next)
        masked.append(shown)
    return masked


def without_credentials(args: Iterable[str]) -> list[str]:
    """Beam args without their credential options (and the values of `--name value` ones): what
    a config rebuilt from a masked record can keep."""
    kept: list[str] = []
    skip_next = False
    for arg in args:
        if skip_next:
            skip_next = False
            continue
        match = _OPTION.fullmatch(arg)
        if match and is_credential_option(match.group(1)):
            skip_next = match.group(2) is None
            continue
        kept.append(arg)
    return kept


def credential_options(args: Sequence[str]) -> list[str]:
    """The names of the credential options among Beam args (to name them in messages)."""
    matches = (_OPTION.fullmatch(arg) for arg in args)
    return sorted({m.group(1) for m in matches if m and is_credential_option(m.group(1))})


_NAME_AND_SEPARATOR = re.compile(
    r"--?[A-Za-z0-9_.-]*(?:" + "|".join(CREDENTIAL_WORDS) + r")[A-Za-z0-9_.-]*(?:=|\s+)",
    re.IGNORECASE)
_BARE_END = re.compile(r"[\s,\])}]")


def _quoted_end(text: str, start: int, quote: str) -> int:
    """Index of the first unescaped `quote` at or after start (len(text) if none)."""
    index = start
    while index < len(text) and text[index] != quote:
        index += 2 if text[index] == "\\" else 1
    return min(index, len(text))


def _value_end(text: str, name_start: int, value_start: int) -> int:
    """Where an option's value ends: at the quote closing the item it sits in (a list's repr),
    after its own closing quote, or at a blank, comma or closing bracket."""
    if name_start > 0 and text[name_start - 1] in "'\"":
        return _quoted_end(text, value_start, text[name_start - 1])
    if value_start < len(text) and text[value_start] in "'\"":
        return min(_quoted_end(text, value_start + 1, text[value_start]) + 1, len(text))
    found = _BARE_END.search(text, value_start)
    return found.start() if found else len(text)


# user:password@ in a URI (postgresql://u:p@host/db, http://u:p@host): found by its shape.
_URI_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)[^@\s/]*(@)")


def mask_uri_passwords(text: str) -> str:
    """Every URI's password in the text masked (user:****@host), found by the URI's shape."""
    return _URI_PASSWORD.sub(lambda match: f"{match.group(1)}{MASK}{match.group(2)}", text)


def mask_credentials_in_text(text: str) -> str:
    """A last pass over finished log text (a library's own message about its options): the value
    after any credential option's name is masked, found by the name, never by the value, and so is
    the password of any URI."""
    text = mask_uri_passwords(text)
    parts, position = [], 0
    for match in _NAME_AND_SEPARATOR.finditer(text):
        if match.start() < position:
            continue
        parts += [text[position:match.end()], MASK]
        position = _value_end(text, match.start(), match.end())
    return "".join(parts) + text[position:]
