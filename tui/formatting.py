"""Pure formatting for the screens: times, durations, states. No Textual here,
so every function is tested with plain values."""

from __future__ import annotations

import time

from rich.text import Text

STATE_STYLES = {
    # extensions
    "idle": "green", "ringing": "bold yellow", "in_call": "bold cyan", "offline": "dim",
    # calls (ringing as above)
    "active": "bold cyan", "ended": "",
    # deliveries
    "pending": "yellow", "retrying": "bold dark_orange", "delivered": "green",
    "dead": "bold red", "skipped": "dim",
    # health
    "ok": "bold green", "degraded": "bold red",
}
CALL_STATUS_STYLES = {"ANSWERED": "green", "NO ANSWER": "yellow", "BUSY": "dark_orange", "FAILED": "red"}


def styled(value: str, style: str | None = None) -> Text:
    """``value`` in the style of its state (or ``style``)."""
    return Text(value, style=STATE_STYLES.get(value, "") if style is None else style)


def clock_time(epoch: float | None) -> str:
    """HH:MM:SS in local time; "-" for 0/None ("not yet")."""
    return time.strftime("%H:%M:%S", time.localtime(epoch)) if epoch else "-"


def date_time(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) if epoch else "-"


def duration(seconds: float | None) -> str:
    """42 -> "42s", 125 -> "2m05s", 7384 -> "2h03m", 200000 -> "2d07h"; "-" when unknown."""
    if seconds is None:
        return "-"
    s = int(max(0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def ago(epoch: float | None, now: float) -> str:
    """How long before ``now``: "12s ago"; "-" for 0/None."""
    if not epoch:
        return "-"
    return f"{duration(now - epoch)} ago"


def number(value: float | int | None, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}{unit}"


def percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{fraction * 100:.1f}%"


def short_id(callid: str, length: int = 8) -> str:
    return callid[:length] if callid else "-"


def yes_no(flag: bool | None) -> Text:
    return Text("yes", style="green") if flag else Text("no", style="red")


def attempt_count(row: dict) -> str:
    """A delivery's attempts: the status API gives a count in lists and the
    attempts themselves in a delivery's detail."""
    tried = row.get("attempts")
    count = len(tried) if isinstance(tried, list) else int(tried or 0)
    return f"{count} attempt{'' if count == 1 else 's'}"


def sum_tail(values: list[int | float | None], count: int) -> float:
    """Sum of the last ``count`` values (None counts as 0)."""
    return sum(v or 0 for v in values[-count:]) if count > 0 else 0


def last_known(values: list[float | None]) -> float | None:
    """The newest value that is not None."""
    for value in reversed(values):
        if value is not None:
            return value
    return None


def several_nodes(health: dict | None, rows: list[dict]) -> bool:
    """True when the connector follows more than one FreeSWITCH node (then
    extensions and calls show a Node column)."""
    return len((health or {}).get("nodes") or []) > 1 or len({r.get("node", "") for r in rows}) > 1


def with_node(values: list, index: int, several: bool, row: dict | None = None) -> list:
    """``values`` (column labels, or a row's cells) with the Node column at
    ``index`` when there are several nodes."""
    if not several:
        return list(values)
    cell = "Node" if row is None else (row.get("node") or "-")
    return [*values[:index], cell, *values[index:]]
