"""Every extension FreeSWITCH knows: who owns it, registration, its state,
the current call (number, direction, live duration), today's calls and
answer rate. With several FreeSWITCH nodes, a Node column says where each
registers (the same number on two nodes is two rows)."""

from __future__ import annotations

from collections import Counter

from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from ..formatting import ago, duration, percent, several_nodes, styled, with_node
from ..messages import OpenCall
from ..widgets.live_table import LiveTable
from .base import LiveScreen

COLUMNS = ["Ext", "Customer", "State", "Number", "Dir", "Time", "Today", "Ans%", "Contact", "User agent",
           "Address", "Updated"]


class ExtensionsScreen(LiveScreen):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._calls: dict[str, str] = {}  # row key -> current call

    def compose_body(self) -> ComposeResult:
        yield Static(id="extensions-summary", classes="summary")
        yield LiveTable(COLUMNS, id="extensions-table")

    async def fetch(self, source) -> list[dict]:
        return await source.extensions()

    def show(self, extensions: list[dict]) -> None:
        now = self.app.clock()
        counts = Counter(e.get("state", "") for e in extensions)
        table = self.query_one("#extensions-table", LiveTable)
        shown = f"   filter: {table.filter}" if table.filter else ""
        self.query_one("#extensions-summary", Static).update(
            f"{len(extensions)} extensions: {counts['idle']} idle, {counts['ringing']} ringing, "
            f"{counts['in_call']} in a call, {counts['offline']} offline{shown}   (enter: the call)")
        several = several_nodes(self.app.health, extensions)
        table.set_columns(with_node(COLUMNS, 1, several))
        table.set_rows((extension_key(e, several), with_node(extension_cells(e, now), 1, several, e))
                       for e in extensions)
        self._calls = {extension_key(e, several): e.get("callid") or "" for e in extensions}

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        callid = self._calls.get(event.row_key.value, "")
        if callid:
            self.post_message(OpenCall(callid))
        else:
            self.notify("no call on this extension now", timeout=3)


def extension_key(e: dict, several: bool) -> str:
    key = f"{e['extension']}@{e['domain']}"
    return f"{key}/{e.get('node', '')}" if several else key


def current_call(e: dict, now: float) -> list[str]:
    """Number, direction and live duration (talk time once answered) of the current call."""
    call = e.get("call") or {}
    if not call:
        return ["-", "-", "-"]
    since = call.get("answered_at") or call.get("started_at")
    return [call.get("phone") or "-", call.get("direction") or "-", duration(now - since) if since else "-"]


def extension_cells(e: dict, now: float) -> list:
    address = f"{e['network_ip']}:{e['network_port']}" if e.get("network_ip") else "-"
    today = e.get("calls_today")
    return [e["extension"], e.get("customer") or "-", styled(e.get("state", "")), *current_call(e, now),
            "-" if today is None else str(today), percent(e.get("answer_rate")), e.get("contact") or "-",
            e.get("user_agent") or "-", address, ago(e.get("updated_at"), now)]
