"""The header of every screen, two lines: the connector and FreeSWITCH
(version, node, events/s; with several nodes, each node's connection), calls in progress, uptime and the last refresh;
then the outbox per customer (depth and oldest pending age), dead letters
and the connector's URL."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..formatting import clock_time, duration, number


class StatusBar(Static):
    def on_mount(self) -> None:
        for name in ("health", "customers", "source_error"):
            self.watch(self.app, name, self._redraw, init=False)
        self._redraw()

    def _redraw(self, _value=None) -> None:
        app = self.app
        line = Text(" ")
        if app.health is None:
            line.append("no answer yet" if app.source_error else "connecting…", style="yellow")
        else:
            line.append_text(health_line(app.health, bool(app.source_error)))
        line.append(f" │ ↻ {clock_time(app.last_refresh)}", style="dim")
        line.append("\n")
        line.append_text(outbox_line(app.health or {}, app.customers or []))
        line.append(f" │ {app.source.url}", style="dim")
        self.text = line.plain  # for tests
        self.update(line)


def health_line(h: dict, stale: bool) -> Text:
    text = Text()
    ok = h.get("status") == "ok"
    if stale:
        text.append("● no answer", style="bold red")
    else:
        text.append("● ok" if ok else "● degraded", style="bold green" if ok else "bold red")
    fs = h.get("freeswitch") or {}
    nodes = h.get("nodes") or []
    if len(nodes) > 1:
        text.append_text(nodes_part(nodes))
    elif fs.get("connected"):
        version = (fs.get("version") or "?").split("-")[0]  # 1.10.12-release~64bit: the dashboard has it all
        text.append(f" │ FreeSWITCH {version} on {fs.get('hostname') or '?'}")
    else:
        text.append(" │ FreeSWITCH disconnected", style="bold red")
    text.append(f" │ {number(fs.get('events_per_second'), ' ev/s', 1)}")
    active = (h.get("calls") or {}).get("active")
    text.append(f" │ {'-' if active is None else active} call{'' if active == 1 else 's'}")
    text.append(f" │ up {duration(h.get('uptime_s'))}")
    return text


def nodes_part(nodes: list[dict]) -> Text:
    """Several FreeSWITCH nodes: how many are up, then each by name, red when down."""
    up = sum(1 for n in nodes if n.get("connected"))
    text = Text(f" │ FreeSWITCH {up}/{len(nodes)}")
    for node in nodes:
        connected = node.get("connected")
        text.append(f" {node.get('node') or '?'}", style="" if connected else "bold red")
        text.append("●" if connected else "✕", style="green" if connected else "bold red")
    return text


def outbox_line(h: dict, customers: list[dict]) -> Text:
    text = Text(" outbox ", style="bold")
    shown = [c for c in customers if c.get("customer") or c.get("backlog")]
    for index, c in enumerate(shown):
        if index:
            text.append(" · ")
        backlog = c.get("backlog", 0)
        text.append(f"{c.get('customer') or '(nobody)'} {backlog}", style="yellow" if backlog else "")
        if c.get("oldest_pending_age_s") is not None:
            text.append(f" (oldest {duration(c['oldest_pending_age_s'])})")
    if not shown:
        text.append(f"{(h.get('delivery') or {}).get('backlog', '-')} pending")
    dead = ((h.get("delivery") or {}).get("counts") or {}).get("dead", 0)
    text.append(" │ ")
    text.append(f"dead {dead}", style="bold red" if dead else "")
    return text
