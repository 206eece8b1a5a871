"""Several delivery processes sharing the outbox (``[delivery] processes = N``,
with ``process = "separate"``): the connector's side.

Each child is a ``supervisor.DeliveryProcess`` (started, restarted on its own
when it dies, stopped), with a claims instance of its own (``<instance>/d1``,
``/d2``...: stable across restarts of a child, so a child started again takes
its predecessor's rows back at once). The children share the due rows through
the claims (``claims``), as several connectors on one database do: none sends a
row another holds, and per-call order holds whoever holds the earlier row (the
due query holds a call log back while an earlier row of its call is due).

``DeliveryProcesses`` has the engine's face (``start``, ``wake``, ``stop``,
``status``...), so the app, the status API, health and metrics use it as they
use one engine:

* Wakes: a commit that added outbox rows wakes ONE child, in turn; a child
  that found more due rows than it takes (a full page, or it holds all it may
  while others are alive) says so, and the next child is woken. A wake without
  rows (an admin's retry, a replay) reaches every child.
* Status: counters, requests in flight and busy endpoints summed over the
  children; ``process`` has each child's figures under ``children``.
* Reload, stop_picking and stop reach every child; stops run side by side.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

import gevent

from .supervisor import DeliveryProcess
from .types import EngineStatus

log = logging.getLogger(__name__)

SUMMED = ("in_flight", "recording", "workers", "delivered", "retried", "dead", "skipped", "requests")
STATE_RANK = {"healthy": 0, "probing": 1, "failing": 2}  # several children's view of one endpoint: the worst


class DeliveryProcesses:
    def __init__(self, settings, workers: int, count: int, log_file: str | None = None):
        self.children = [DeliveryProcess(settings, workers, index, count, log_file)
                         for index in range(1, count + 1)]
        for child in self.children:
            child.on_left_over = self._left_over
        self._turn = 0
        self._on_result: Callable | None = None
        self.on_died: Callable | None = None  # unused: a dead child is restarted, not fatal

    @property
    def on_result(self) -> Callable | None:
        return self._on_result

    @on_result.setter
    def on_result(self, callback: Callable | None) -> None:
        self._on_result = callback
        for child in self.children:
            child.on_result = callback

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> DeliveryProcesses:
        for child in self.children:
            child.start()
        return self

    def stop_picking(self) -> None:
        for child in self.children:
            child.stop_picking()

    def stop(self, timeout: float | None = None) -> None:
        """Every child finishes its deliveries in flight within ``timeout``, side by side."""
        gevent.joinall([gevent.spawn(child.stop, timeout) for child in self.children])

    def wake(self, info=None) -> None:
        """New rows (``info``: the writer's CommitInfo): the next child in turn.
        Without ``info``: every child looks at every due row."""
        if info is None:
            for child in self.children:
                child.wake()
        elif getattr(info, "events", 1):
            self._next().wake(info)

    def reload(self, settings, renewed: list[str] = ()) -> None:
        for child in self.children:
            child.reload(settings, renewed)

    def _next(self, after: DeliveryProcess | None = None) -> DeliveryProcess:
        if after is not None:
            self._turn = after.index % len(self.children)
        child = self.children[self._turn]
        self._turn = (self._turn + 1) % len(self.children)
        return child

    def _left_over(self, child: DeliveryProcess) -> None:
        """``child`` left due rows unread: the next one looks. Each child hands
        on at most once per commit's wake (or status report), so a backlog
        never sets the children waking each other in a loop."""
        if len(self.children) > 1:
            self._next(after=child).hand_on()

    # -- what the connector shows ---------------------------------------------------------

    @property
    def running(self) -> bool:
        return all(child.running for child in self.children)

    @property
    def pid(self) -> int | None:
        """The first child's (the only one's with ``processes = 1``)."""
        return self.children[0].pid

    @property
    def restarts(self) -> int:
        return sum(child.restarts for child in self.children)

    def status(self) -> EngineStatus:
        statuses = [child.status() for child in self.children]
        first = statuses[0]
        merged = {name: sum(getattr(s, name) for s in statuses) for name in SUMMED}
        busy: dict[str, int] = {}
        for s in statuses:
            for endpoint, n in s.busy_endpoints.items():
                busy[endpoint] = busy.get(endpoint, 0) + n
        down = [s.last_error for s in statuses if not s.running]
        errors = down or [s.last_error for s in statuses if s.last_error]
        children = [{**s.process, "index": c.index, "instance": c.settings.delivery.instance,
                     "in_flight": s.in_flight, "delivered": s.delivered}
                    for c, s in zip(self.children, statuses, strict=True)]
        process = {"mode": "separate", "up": all(c["up"] for c in children), "pid": children[0]["pid"],
                   "restarts": self.restarts,
                   "last_exit": next((c["last_exit"] for c in children if c["last_exit"]), ""),
                   "cpu_seconds": round(sum(c["cpu_seconds"] for c in children), 3),
                   "rss_bytes": sum(c["rss_bytes"] for c in children), "children": children}
        return replace(first, running=not down, busy_endpoints=busy, last_error=errors[0] if errors else "",
                       endpoints=merged_endpoints(statuses), instance=first.instance.rsplit("/d", 1)[0],
                       process=process, **merged)


def merged_endpoints(statuses: list[EngineStatus]) -> list[dict]:
    """Each endpoint once, as the child that sees it worst (each child keeps
    its own health of the endpoints it sent to)."""
    worst: dict[tuple, dict] = {}
    for status in statuses:
        for entry in status.endpoints:
            key = (entry["customer"], entry["endpoint"])
            seen = worst.get(key)
            if seen is None or STATE_RANK.get(entry["state"], 0) > STATE_RANK.get(seen["state"], 0):
                worst[key] = entry
    return [worst[key] for key in sorted(worst)]
