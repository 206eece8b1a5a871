"""The line at the top of every screen: is the connector answering, is
FreeSWITCH connected, the backlog, the connector's URL, the time."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..formatting import clock_time, duration


class StatusBar(Static):
    def on_mount(self) -> None:
        self.watch(self.app, "health", self._redraw, init=False)
        self.watch(self.app, "source_error", self._redraw, init=False)
        self._redraw()

    def _redraw(self, _value=None) -> None:
        app = self.app
        line = Text()
        line.append(" esl-connector ", style="bold reverse")
        line.append(" ")
        if app.source_error:
            line.append(f"✖ {app.source_error}", style="bold red")
        elif app.health is None:
            line.append("connecting…", style="yellow")
        else:
            line.append_text(self._health_text(app.health))
        line.append(f" │ {app.source.url} │ {clock_time(app.clock())}", style="dim")
        self.text = line.plain  # for tests
        self.update(line)

    @staticmethod
    def _health_text(h: dict) -> Text:
        text = Text()
        ok = h.get("status") == "ok"
        text.append("● ok" if ok else "● degraded", style="bold green" if ok else "bold red")
        fs = h.get("freeswitch") or {}
        if fs.get("connected"):
            text.append(f" │ FreeSWITCH {fs.get('version') or '?'} on {fs.get('hostname') or '?'}")
        else:
            text.append(" │ FreeSWITCH disconnected", style="bold red")
        delivery = h.get("delivery") or {}
        counts = delivery.get("counts") or {}
        text.append(f" │ backlog {delivery.get('backlog', '-')}")
        dead = counts.get("dead", 0)
        text.append(" · ")
        text.append(f"dead {dead}", style="bold red" if dead else "")
        text.append(f" │ up {duration(h.get('uptime_s'))}")
        return text
