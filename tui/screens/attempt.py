"""One delivery attempt: the request (method, URL, headers, body, secrets
as ***) and the response (status, latency, error, the start of the body)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll

from ..formatting import date_time, number
from ..widgets.info_panel import InfoPanel
from .base import LiveScreen


class AttemptScreen(LiveScreen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, key: int | str, attempt_id: int | str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.key, self.attempt_id = key, str(attempt_id)

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="attempt-body"):
            yield InfoPanel(f"Request · delivery {self.key}", wrap=True, id="attempt-request")
            yield InfoPanel("Response", wrap=True, id="attempt-response")

    async def fetch(self, source) -> dict:
        return await source.delivery(self.key)

    def show(self, d: dict) -> None:
        attempt = next((a for a in d.get("attempts") or [] if str(a.get("id")) == self.attempt_id), None)
        requests = d.get("requests") or []
        self.query_one("#attempt-request", InfoPanel).show(request_rows(d, attempt, requests))
        self.query_one("#attempt-response", InfoPanel).show(response_rows(attempt))


def request_rows(d: dict, attempt: dict | None, requests: list[dict]) -> list:
    url = (attempt or {}).get("url", "")
    request = next((r for r in requests if url and r.get("url", "").split("?")[0] == url.split("?")[0]),
                   requests[0] if requests else None)
    rows: list = [("Event", f"{d.get('event_type', '')} · {d.get('customer') or '-'} · "
                            f"{d.get('extension', '')}@{d.get('domain', '')}"),
                  ("Sent", date_time((attempt or {}).get("at"))),
                  ("URL", url or (request or {}).get("url", "-"))]
    if request is None:
        return rows + [("Method", "-"), ("Body", "(not known: no customer owns the extension now)")]
    rows.append(("Method", request.get("method", "")))
    rows += [(f"  {name}", value) for name, value in (request.get("headers") or {}).items()]
    rows.append(("Body", request.get("body") if request.get("body") is not None else "(none: in the URL)"))
    rows.append(("", Text("headers and body as the settings of now build them; secrets are ***", style="dim")))
    return rows


def response_rows(a: dict | None) -> list:
    if a is None:
        return [("Status", "not tried yet")]
    code = a.get("status_code")
    ok = code is not None and 200 <= code < 300
    return [("Status", Text(f"HTTP {code}" if code is not None else "no answer", style="green" if ok else "red")),
            ("Latency", number(a.get("latency_ms"), " ms", 1)),
            ("Error", Text(a.get("error") or "-", style="red" if a.get("error") else "")),
            ("Body", a.get("response_excerpt") or "-")]
