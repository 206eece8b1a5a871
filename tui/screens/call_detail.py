"""One call and its timeline: its legs (FreeSWITCH channels), every CRM event
of the call in order, each with every delivery attempt (enter on an event:
the delivery screen; on an attempt: its request and response)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable

from ..formatting import CALL_STATUS_STYLES, attempt_count, clock_time, date_time, duration, number, styled
from ..messages import OpenAttempt, OpenDelivery
from ..widgets.info_panel import InfoPanel
from ..widgets.live_table import LiveTable
from .base import LiveScreen

COLUMNS = ["At", "Event / attempt", "Customer", "Status", "Latency", "Detail"]


class CallDetailScreen(LiveScreen):
    BINDINGS = [("escape", "app.pop_screen", "Back")]

    def __init__(self, callid: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.callid = callid

    def compose_body(self) -> ComposeResult:
        yield InfoPanel(f"Call {self.callid}", id="call-info")
        yield LiveTable(COLUMNS, id="call-timeline")

    async def fetch(self, source) -> dict:
        return await source.call(self.callid)

    def show(self, body: dict) -> None:
        self.query_one("#call-info", InfoPanel).show(call_rows(body["call"], self.app.clock()))
        self.query_one("#call-timeline", LiveTable).set_rows(timeline_rows(body.get("events") or []))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        kind, delivery, *attempt = (event.row_key.value or "").split(":")
        self.post_message(OpenAttempt(delivery, attempt[0]) if kind == "attempt" else OpenDelivery(delivery))


def call_rows(c: dict, now: float) -> list:
    status = c.get("status") or "-"
    ended = c.get("state") == "ended"
    length = c.get("duration") if ended else now - (c.get("started_at") or now)
    return [("Direction", f"{c.get('direction', '')} · {c.get('phone') or '-'} ↔ ext {c.get('extension') or '-'}"
                          f"@{c.get('domain', '')}"),
            ("State", styled(c.get("state", ""))),
            ("Status", Text(status, style=CALL_STATUS_STYLES.get(status, ""))),
            ("Started", f"{date_time(c.get('started_at'))} · answered {clock_time(c.get('answered_at'))} · "
                        f"ended {clock_time(c.get('ended_at'))}"),
            ("Length", f"{duration(length)} (talk {duration(c.get('billsec')) if ended else '-'})"
                       + (f" · {c['hangup_cause']}" if c.get("hangup_cause") else "")),
            ("Rung", ", ".join(c.get("extensions") or []) or "-"),
            ("Legs", f"{len(c.get('legs') or [])}: " + ", ".join(c.get("legs") or []) if c.get("legs") else "-"),
            ("Userfield", c.get("userfield") or "-"),
            ("Recording", c.get("recording_url") or c.get("recording") or "-")]


def timeline_rows(events: list[dict]) -> list[tuple[str, list]]:
    rows = []
    for e in events:
        rows.append((f"event:{e['id']}", [clock_time(e.get("created_at")), Text(e["event_type"], style="bold"),
                                           e.get("customer") or "-", styled(e.get("status", "")),
                                           "", e.get("last_error") or attempt_count(e)]))
        for a in e.get("attempts") or []:
            code = a.get("status_code")
            result = Text(f"HTTP {code}" if code is not None else "no answer",
                          style="green" if code is not None and 200 <= code < 300 else "red")
            rows.append((f"attempt:{e['id']}:{a['id']}", [clock_time(a.get("at")), "  ↳ attempt", "", result,
                                                          number(a.get("latency_ms"), " ms", 1),
                                                          a.get("error") or a.get("url", "")]))
    return rows
