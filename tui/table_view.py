"""What a table shows of its rows: the filter (``/``) and the sort order
(by column), as pure functions of plain values, tested without Textual."""

from __future__ import annotations

import re
from collections.abc import Sequence

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?: ago)?$")
_NUMBER = re.compile(r"^[-+]?[\d,]*\.?\d+(?:\s*(?:%|ms|/s))?$")


def plain(cell) -> str:
    """A cell as the text it shows (rich ``Text`` or anything else)."""
    return getattr(cell, "plain", None) if hasattr(cell, "plain") else str(cell)


def matches(cells: Sequence, needle: str) -> bool:
    """Every word of ``needle`` is in some cell (case-insensitive); "" matches all."""
    text = " ".join(plain(c) for c in cells).lower()
    return all(word in text for word in needle.lower().split())


def sort_value(cell) -> tuple:
    """A key that orders numbers, percentages, latencies and durations by
    value ("2m05s" after "59s"), then text; "-" and "" last."""
    text = plain(cell).strip()
    if text in ("", "-"):
        return (2, 0.0, "")
    if _NUMBER.match(text):
        return (0, float(re.sub(r"[^\d.+-]", "", text)), text)
    found = _DURATION.match(text)
    if found and any(found.groups()):
        days, hours, minutes, seconds = (int(g or 0) for g in found.groups())
        return (0, float(((days * 24 + hours) * 60 + minutes) * 60 + seconds), text)
    return (1, 0.0, text.lower())


def arrange(rows: Sequence[tuple[str, Sequence]], needle: str = "", column: int | None = None,
            reverse: bool = False) -> list[tuple[str, Sequence]]:
    """The rows shown: those matching ``needle``, sorted by ``column`` (None: as given).
    Empty values stay last in either direction."""
    shown = [row for row in rows if matches(row[1], needle)] if needle else list(rows)
    if column is None:
        return shown
    filled = [r for r in shown if sort_value(r[1][column])[0] != 2]
    empty = [r for r in shown if sort_value(r[1][column])[0] == 2]
    return sorted(filled, key=lambda r: sort_value(r[1][column]), reverse=reverse) + empty
