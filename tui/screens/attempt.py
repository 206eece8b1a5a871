"""One delivery attempt: the request as it went out (method, URL, headers,
body, secrets as ***; stored with the attempt) and the response (status,
latency, error, the start of the body)."""

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
        self.query_one("#attempt-request", InfoPanel).show(request_rows(d, attempt))
        self.query_one("#attempt-response", InfoPanel).show(response_rows(attempt))


def request_rows(d: dict, attempt: dict | None) -> list:
    """The request as it went out (stored with the attempt), never rebuilt."""
    rows: list = [("Event", f"{d.get('event_type', '')} · {d.get('customer') or '-'} · "
                            f"{d.get('extension', '')}@{d.get('domain', '')}"),
                  ("Sent", date_time((attempt or {}).get("at")))]
    request = (attempt or {}).get("request")
    if request is None:
        return rows + [("URL", (attempt or {}).get("url") or "-"),
                       ("Request", Text("not stored: this attempt was recorded before the connector kept "
                                        "each request", style="yellow") if attempt else "not tried yet")]
    rows += [("Method", request.get("method", "")), ("URL", request.get("url", ""))]
    rows += [(f"  {name}", value) for name, value in (request.get("headers") or {}).items()]
    body = request.get("body")
    rows.append(("Body", body if body is not None else "(none: in the URL)"))
    if request.get("truncated"):
        rows.append(("", Text(f"first 16 KiB of {request.get('body_bytes', 0):,} bytes", style="dim")))
    rows.append(("", Text("as sent; secrets are ***", style="dim")))
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
