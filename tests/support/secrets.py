"""Hostile secrets and the forms a leak of one can take in a file or on a console."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from google.protobuf import text_encoding

# Each holds a unique core (no character any escaping changes), so a leak of any part of it in
# any escaping is found by the core alone; around it, what escapes differently in each format.
HOSTILE_PASSWORDS = (
    "Qx7core01'single\"double\\back",
    "Qx7core02 spaces and\ttab",
    "Qx7core03-é€ü-日本",
    "Qx7core04%s%(name)s{0}{}%%",
    "Qx7core05$HOME`id`;|&<>",
    "Qx7core06\x1b[31mred\x07",
    "Qx7core07@host:3306/db?x=1#frag",
    "Qx7core08=--opt --s3_secret=x",
    "Qx7core09\\n\\x41\\u00e9",
    "Qx7core10'); DROP TABLE Artifact; --",
)


def core(secret: str) -> str:
    """The secret's unique alphanumeric core."""
    return secret[:9]


def escapings(secret: str) -> set[str]:
    """The secret as it would appear: raw, repr, JSON, URL-encoded, protobuf text format, shell."""
    forms = {
        secret, repr(secret)[1:-1], json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1], urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret), secret.encode("unicode_escape").decode("ascii"),
        text_encoding.CEscape(secret.encode(), as_utf8=False),
        text_encoding.CEscape(secret.encode(), as_utf8=True),
    }
    return {form for form in forms if len(form) >= len(core(secret))}


def leaks(blob: bytes | str, secret: str) -> list[str]:
    """Every form of the secret (or its core) found in the blob."""
    data = blob if isinstance(blob, bytes) else blob.encode("utf-8", "surrogateescape")
    found = [form for form in sorted(escapings(secret) | {core(secret)})
             if form.encode("utf-8", "surrogateescape") in data]
    return found


def written_files(*roots: Path) -> Iterator[Path]:
    """Every regular file under the roots (logs, stores, specs, artifacts)."""
    for root in roots:
        if root.is_file():
            yield root
        elif root.is_dir():
            yield from (p for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink())


def leaks_in_files(secret: str, *roots: Path) -> dict[str, list[str]]:
    """Files holding any form of the secret, with the forms found."""
    found = {str(path): leaks(path.read_bytes(), secret) for path in written_files(*roots)}
    return {path: forms for path, forms in found.items() if forms}
