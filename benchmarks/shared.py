"""What the report's sections share: table cells, markdown tables, and the names of the totals."""

from __future__ import annotations

import math

TOTAL = "total (wall)"
# Components under this many seconds at every size (resolver, schema import) are left out of
# the scaling table and plot: their cost is bookkeeping, not data.
MIN_SHOWN_SECONDS = 1.0


def number(value: object, digits: int = 1) -> str:
    """A table cell: numbers rounded, missing values as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        shown = 0 if abs(value) >= 1000 else 1 if abs(value) >= 10 else digits
        return f"{value:,.{shown}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(header: list[str], rows: list[list[object]], digits: int = 1) -> list[str]:
    """Markdown table lines."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(number(cell, digits) for cell in row) + " |" for row in rows]
    return lines
