"""Calls, newest first: in progress and ended, with their outcome (and,
with several FreeSWITCH nodes, the node each is on)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from ..formatting import CALL_STATUS_STYLES, clock_time, duration, several_nodes, short_id, styled, with_node
from ..messages import OpenCall
from ..widgets.live_table import LiveTable
from .base import LiveScreen

COLUMNS = ["Started", "Call", "Direction", "State", "Phone", "Extension", "Status", "Duration", "Talk",
           "Userfield", "Rec"]
LIMIT = 200


class CallsScreen(LiveScreen):
    BINDINGS = [("a", "toggle_active", "Active only / all")]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.active_only = False

    def compose_body(self) -> ComposeResult:
        yield Static(id="calls-summary", classes="summary")
        yield LiveTable(COLUMNS, id="calls-table")

    async def fetch(self, source) -> list[dict]:
        return await source.calls(active=True if self.active_only else None, limit=LIMIT)

    def show(self, calls: list[dict]) -> None:
        now = self.app.clock()
        active = sum(1 for c in calls if c.get("state") != "ended")
        which = "calls in progress" if self.active_only else f"latest calls ({active} in progress)"
        self.query_one("#calls-summary", Static).update(
            f"{len(calls)} {which}   (a: {'all calls' if self.active_only else 'in progress only'}, "
            "enter: timeline)")
        several = several_nodes(self.app.health, calls)
        table = self.query_one("#calls-table", LiveTable)
        table.set_columns(with_node(COLUMNS, 2, several))
        table.set_rows((c["callid"], with_node(call_cells(c, now), 2, several, c)) for c in calls)

    def action_toggle_active(self) -> None:
        self.active_only = not self.active_only
        self.reload()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.post_message(OpenCall(event.row_key.value))


def call_cells(c: dict, now: float) -> list:
    ended = c.get("state") == "ended"
    length = (c.get("duration") if ended else now - c["started_at"]) if c.get("started_at") else None
    status = c.get("status") or ""
    return [clock_time(c.get("started_at")), short_id(c["callid"]), c.get("direction", ""),
            styled(c.get("state", "")), c.get("phone") or "-", c.get("extension") or "-",
            Text(status or "-", style=CALL_STATUS_STYLES.get(status, "")), duration(length),
            duration(c.get("billsec")) if ended else "-", c.get("userfield") or "",
            "●" if c.get("recording") else ""]
