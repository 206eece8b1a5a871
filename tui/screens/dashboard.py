"""The first screen: the connector's health, FreeSWITCH, deliveries and
extensions at a glance, and per-minute figures for the last hour."""

from __future__ import annotations

import asyncio
from collections import Counter

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal

from ..formatting import ago, duration, last_known, number, styled, sum_tail, yes_no
from ..widgets.info_panel import InfoPanel
from ..widgets.live_table import LiveTable
from ..widgets.metric_panel import MetricPanel
from .base import LiveScreen

EXTENSION_STATES = ("idle", "ringing", "in_call", "offline")
WINDOW = 60  # minutes of the charts


class DashboardScreen(LiveScreen):
    def compose_body(self) -> ComposeResult:
        with Grid(id="dashboard-cards"):
            yield InfoPanel("Connector", id="card-connector")
            yield InfoPanel("FreeSWITCH", id="card-freeswitch")
            yield InfoPanel("Deliveries", id="card-delivery")
            yield InfoPanel("Extensions", id="card-extensions")
        with Horizontal(id="dashboard-metrics"):
            yield MetricPanel("Calls / min", id="metric-calls")
            yield MetricPanel("Webhooks / min", id="metric-attempts")
            yield MetricPanel("Failed / min", id="metric-failures")
            yield MetricPanel("Latency, avg", id="metric-latency")
        yield LiveTable(["Customer", "Backlog", "Pending", "Retrying", "Delivered", "Dead", "Skipped",
                         "Oldest due", "Last delivered"], id="dashboard-customers")

    async def fetch(self, source) -> tuple:
        return await asyncio.gather(source.health(), source.metrics(WINDOW), source.extensions(),
                                    source.delivery_stats())

    def on_mount(self) -> None:
        self.query_one("#dashboard-customers").border_title = "Customers"

    def show(self, data: tuple) -> None:
        health, metrics, extensions, customers = data
        now = self.app.clock()
        self.query_one("#card-connector", InfoPanel).show(connector_rows(health))
        self.query_one("#card-freeswitch", InfoPanel).show(freeswitch_rows(health, now))
        self.query_one("#card-delivery", InfoPanel).show(delivery_rows(health))
        self.query_one("#card-extensions", InfoPanel).show(extension_rows(extensions))
        self._show_metrics(metrics)
        self.query_one("#dashboard-customers", LiveTable).set_rows(
            (c["customer"] or "(nobody)", customer_cells(c, now)) for c in customers)

    def _show_metrics(self, m: dict) -> None:
        calls, attempts = m["calls_per_minute"], m["attempts_per_minute"]
        failures, latency = m["failures_per_minute"], m["latency_avg_ms"]
        self.query_one("#metric-calls", MetricPanel).show(
            calls, f"{calls[-1]} now · {sum_tail(calls, WINDOW):.0f}/h")
        self.query_one("#metric-attempts", MetricPanel).show(
            attempts, f"{attempts[-1]} now · {sum_tail(attempts, WINDOW):.0f}/h")
        self.query_one("#metric-failures", MetricPanel).show(
            failures, f"{failures[-1]} now · {sum_tail(failures, WINDOW):.0f}/h")
        self.query_one("#metric-latency", MetricPanel).show(
            latency, f"{number(last_known(latency), ' ms', 1)} last")


def connector_rows(h: dict) -> list[tuple[str, str | Text]]:
    versions, database, writer = h.get("versions") or {}, h.get("database") or {}, h.get("writer") or {}
    return [("Status", styled(h.get("status", "?"))),
            ("Uptime", duration(h.get("uptime_s"))),
            ("Version", f"{versions.get('connector', '?')} (Python {versions.get('python', '?')})"),
            ("Database", yes_no(database.get("ok")) if database.get("ok") else Text(database.get("error") or "down",
                                                                                   style="red")),
            ("Writer", f"{writer.get('queued_changes', 0)} queued · {writer.get('commits', 0)} commits")]


def freeswitch_rows(h: dict, now: float) -> list[tuple[str, str | Text]]:
    fs = h.get("freeswitch") or {}
    rate = fs.get("events_per_second")
    nodes = h.get("nodes") or []
    if len(nodes) > 1:  # a cluster: one line per node
        up = sum(1 for n in nodes if n.get("connected"))
        return [("Nodes", f"{up}/{len(nodes)} connected · {number(rate, ' ev/s', 1)}"),
                *[(n.get("node") or "?", node_cell(n)) for n in nodes]]
    return [("Connected", yes_no(fs.get("connected"))),
            ("Version", fs.get("version") or "-"),
            ("Node", f"{fs.get('hostname') or '-'} ({(fs.get('core_uuid') or '-')[:8]})"),
            ("Events", f"{number(fs.get('events_received'))} · {number(rate, '/s', 1)}"),
            ("Reconnects", f"{fs.get('reconnects', 0)} · last frame {ago(fs.get('last_frame_at'), now)}")]


def node_cell(n: dict) -> Text:
    """One node of a cluster: up or down, its switchname, version and reconnects."""
    if not n.get("connected"):
        return Text(f"down · {n.get('host')}:{n.get('port')} · {n.get('last_error') or ''}".rstrip(" ·"),
                    style="bold red")
    version = (n.get("version") or "?").split("-")[0]
    return Text(f"up · {n.get('switchname') or '?'} {version} · {n.get('reconnects', 0)} reconnects")


def delivery_rows(h: dict) -> list[tuple[str, str | Text]]:
    delivery = h.get("delivery") or {}
    counts, engine = delivery.get("counts") or {}, delivery.get("engine") or {}
    dead = counts.get("dead", 0)
    return [("Backlog", f"{delivery.get('backlog', '-')} ({counts.get('pending', 0)} new, "
                        f"{counts.get('retrying', 0)} retrying)"),
            ("Delivered", number(counts.get("delivered"))),
            ("Dead", Text(str(dead), style="bold red" if dead else "")),
            ("Skipped", number(counts.get("skipped"))),
            ("In flight", f"{engine.get('in_flight', 0)} · engine {'up' if engine.get('running') else 'DOWN'}")]


def extension_rows(extensions: list[dict]) -> list[tuple[str, str | Text]]:
    counts = Counter(e.get("state", "") for e in extensions)
    rows: list[tuple[str, str | Text]] = [(state.replace("_", " ").capitalize(), styled(str(counts[state]),
                                           styled(state).style)) for state in EXTENSION_STATES]
    rows.append(("Total", str(len(extensions))))
    return rows


def customer_cells(c: dict, now: float) -> list:
    counts = c.get("counts") or {}
    dead = counts.get("dead", 0)
    return [c["customer"] or "(nobody)", str(c.get("backlog", 0)), str(counts.get("pending", 0)),
            str(counts.get("retrying", 0)), str(counts.get("delivered", 0)),
            Text(str(dead), style="bold red" if dead else ""), str(counts.get("skipped", 0)),
            duration(c.get("oldest_pending_age_s")) if c.get("oldest_pending_at") else "-",
            ago(c.get("last_delivered_at"), now)]
