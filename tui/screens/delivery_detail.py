"""One outbox row (a CRM event) and every attempt to deliver it; r sends it
again; enter on an attempt shows its request and response."""

from __future__ import annotations

import json

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable

from ..client import SourceError
from ..formatting import attempt_count, date_time, number, styled
from ..messages import OpenAttempt
from ..widgets.info_panel import InfoPanel
from ..widgets.live_table import LiveTable
from .base import LiveScreen

COLUMNS = ["At", "Result", "Latency", "Error / response", "URL"]
DUE = ("pending", "retrying")


class DeliveryDetailScreen(LiveScreen):
    BINDINGS = [("escape", "app.pop_screen", "Back"), ("r", "retry", "Send again")]

    def __init__(self, key: int | str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.key = key

    def compose_body(self) -> ComposeResult:
        yield InfoPanel(f"Delivery {self.key}", id="delivery-info")
        yield LiveTable(COLUMNS, id="delivery-attempts")

    async def fetch(self, source) -> dict:
        return await source.delivery(self.key)

    def show(self, d: dict) -> None:
        self.query_one("#delivery-info", InfoPanel).show(delivery_rows(d))
        self.query_one("#delivery-attempts", LiveTable).set_rows(
            (str(a["id"]), attempt_cells(a)) for a in reversed(d.get("attempts") or []))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.post_message(OpenAttempt(self.key, event.row_key.value))

    async def action_retry(self) -> None:
        try:
            row = await self.app.source.retry(self.key)
        except SourceError as exc:
            self.notify(f"not sent again: {exc}", severity="error")
            return
        self.notify(f"delivery {row['id']} is {row['status']}: sent again now")
        self.reload()


def delivery_rows(d: dict) -> list:
    return [("Event", f"{d['event_type']} · id {d['id']} · {d.get('event_id', '')}"),
            ("Call", d.get("callid", "")),
            ("Extension", f"{d.get('extension', '')}@{d.get('domain', '')} · customer {d.get('customer') or '-'}"),
            ("Status", styled(d.get("status", ""))),
            ("Endpoint", d.get("endpoint") or "- (not sent yet)"),
            ("Attempts", attempt_count(d)),
            ("Created", date_time(d.get("created_at"))),
            ("Next attempt", date_time(d.get("next_attempt_at")) if d.get("status") in DUE else "-"),
            ("Delivered", date_time(d.get("delivered_at"))),
            ("Last error", Text(d.get("last_error") or "-", style="red" if d.get("last_error") else "")),
            ("Params", json.dumps(d.get("params") or {}, ensure_ascii=False))]


def attempt_cells(a: dict) -> list:
    code = a.get("status_code")
    result = Text(f"HTTP {code}" if code is not None else "no answer",
                  style="green" if code is not None and 200 <= code < 300 else "red")
    return [date_time(a.get("at")), result, number(a.get("latency_ms"), " ms", 1),
            a.get("error") or a.get("response_excerpt") or "", a.get("url", "")]
