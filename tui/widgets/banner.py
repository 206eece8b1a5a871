"""The banner under the header: shown only when the connector cannot be read
(unreachable, a wrong token, an error) or is slow to answer; says why, what
to check, and when the next try is. Hidden when all is well."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..formatting import duration

HINTS = {401: "check --token (http.api_token or $ESL_CONNECTOR_API_TOKEN)",
         403: "the API needs a token here: set http.api_token and pass --token"}


class Banner(Static):
    def on_mount(self) -> None:
        for name in ("source_error", "slow_for", "retry_in"):
            self.watch(self.app, name, self._redraw, init=False)
        self._redraw()

    def _redraw(self, _value=None) -> None:
        app = self.app
        line = Text()
        if app.source_error:
            line.append(f" ✖ {app.source_error}", style="bold")
            hint = HINTS.get(app.error_status or 0)
            if hint:
                line.append(f" · {hint}")
            wait = f"retrying in {duration(app.retry_in)}" if app.retry_in > 0 else "retrying now"
            line.append(f" · {wait} (failed {app.failures}×, F5: now)")
            self.set_classes("error")
        elif app.slow_for:
            line.append(f" ⌛ the connector has not answered for {duration(app.slow_for)}; still waiting",
                        style="bold")
            self.set_classes("slow")
        self.text = line.plain  # for tests
        self.display = bool(line.plain)
        self.update(line)
