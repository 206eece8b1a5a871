"""Figures read at scrape time from the same sources as the status API: the
Event Socket client's status, the call tracker's calls in progress, the
storage writer's status and the outbox statistics (``status_views``).

Nothing here runs on the Event Socket path; the outbox figures cost the
queries of ``/api/v1/deliveries/stats`` per scrape (the outbox tally and the
due rows: the same at any outbox size). A source that
fails (the database is down) leaves its figures out and sets
``esl_connector_scrape_source_up{source=...}`` to 0; the scrape itself works.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from .. import __version__
from . import status_views

log = logging.getLogger(__name__)

P = "esl_connector_"


@dataclass(slots=True)
class StateSources:
    """What the collector reads; any may be None (then its figures are left out)."""

    esl: list[tuple[str, Any]] = field(default_factory=list)  # (node, esl.client.EventSocketClient)
    active_calls: Callable[[], list] | None = None  # the call tracker's calls in progress
    writer: Any = None     # storage.writer.StorageWriter (status())
    db: Any = None         # the database, for the outbox statistics
    directory: Any = None  # customers.CustomerDirectory
    deliverer: Any = None  # the delivery engine or processes (status().process: the children's figures)
    clock: Callable[[], float] = time.time


def _gauge(name: str, doc: str, labels=(), samples=()) -> GaugeMetricFamily:
    family = GaugeMetricFamily(P + name, doc, labels=list(labels))
    for label_values, value in samples:
        family.add_metric(list(label_values), value)
    return family


def _counter(name: str, doc: str, labels=(), samples=()) -> CounterMetricFamily:
    family = CounterMetricFamily(P + name, doc, labels=list(labels))
    for label_values, value in samples:
        family.add_metric(list(label_values), value)
    return family


class StateCollector:
    def __init__(self, sources: StateSources):
        self.sources = sources

    def describe(self):
        return []  # families vary with what is configured: described at collection only

    def collect(self):
        yield _gauge("info", "The connector's version", ("version",), [((__version__,), 1)])
        up = []
        for source, read in (("esl", self._esl), ("calls", self._calls), ("writer", self._writer),
                             ("outbox", self._outbox), ("delivery_processes", self._delivery_processes)):
            try:
                families = list(read())
            except Exception as exc:  # a failing source must not fail the scrape
                log.warning("metrics: cannot read %s: %s", source, exc)
                up.append(((source,), 0))
                continue
            up.append(((source,), 1))
            yield from families
        yield _gauge("scrape_source_up", "1 when the source could be read at this scrape", ("source",), up)

    def _esl(self):
        if not self.sources.esl:
            return
        nodes = [((node,), esl.status()) for node, esl in self.sources.esl]
        yield _gauge("esl_connected", "1 while the Event Socket session with this node is up", ("node",),
                     [(node, 1 if status.connected else 0) for node, status in nodes])
        yield _counter("esl_reconnects", "Event Socket sessions lost since start", ("node",),
                       [(node, status.reconnects) for node, status in nodes])
        yield _gauge("esl_last_frame_timestamp_seconds", "When the last frame of any kind arrived (epoch)",
                     ("node",), [(node, status.last_frame_at or 0) for node, status in nodes])

    def _calls(self):
        if self.sources.active_calls is None:
            return
        by_direction = Counter(call.direction for call in self.sources.active_calls())
        yield _gauge("calls_active", "Calls in progress, as the call tracker follows them", (),
                     [((), sum(by_direction.values()))])
        yield _gauge("calls_active_by_direction", "Calls in progress by direction", ("direction",),
                     [((direction,), n) for direction, n in sorted(by_direction.items())])

    def _writer(self):
        writer = self.sources.writer
        if writer is None:
            return
        s = writer.status()
        yield _gauge("writer_queued_changes", "Changes submitted but not yet committed", (), [((), s.queued_changes)])
        yield _gauge("writer_oldest_queued_seconds", "Age of the oldest uncommitted change", (),
                     [((), s.oldest_queued_s)])
        yield _gauge("writer_failing", "1 while writes to the database fail", (), [((), 1 if s.failing_since else 0)])
        yield _counter("writer_commits", "Transactions committed", (), [((), s.commits)])
        yield _counter("writer_failures", "Transactions that failed (each retried)", (), [((), s.failures)])
        yield _counter("writer_rejected_changes", "Changes dropped because their own data could not be written",
                       (), [((), s.rejected)])

    def _outbox(self):
        db = self.sources.db
        if db is None:
            return
        now = self.sources.clock()
        stats = status_views.delivery_stats(db, self.sources.directory, now)
        rows, backlog, oldest = [], [], []
        for entry in stats:
            customer = entry["customer"]
            rows += [((customer, status), n) for status, n in entry["counts"].items()]
            backlog.append(((customer,), entry["backlog"]))
            oldest.append(((customer,), entry["oldest_pending_age_s"] or 0.0))
        yield _gauge("outbox_rows", "Outbox rows by customer and status", ("customer", "status"), rows)
        yield _gauge("outbox_depth", "Outbox rows still to deliver (pending + retrying)", ("customer",), backlog)
        yield _gauge("outbox_oldest_pending_age_seconds", "Age of the oldest row still to deliver (0: none)",
                     ("customer",), oldest)

    def _delivery_processes(self):
        """Each delivery child's own figures ([delivery] process = "separate"; the
        connector's ``process_*`` figures are its own process's only)."""
        deliverer = self.sources.deliverer
        process = deliverer.status().process if deliverer is not None else None
        if not process:
            return
        children = [((str(c["index"]),), c) for c in process["children"]]
        yield _gauge("delivery_process_up", "1 while this delivery process runs and delivers", ("child",),
                     [(k, 1 if c["up"] else 0) for k, c in children])
        yield _counter("delivery_process_restarts", "Times this delivery process exited and was started "
                       "again", ("child",), [(k, c["restarts"]) for k, c in children])
        yield _counter("delivery_process_cpu_seconds", "CPU time (user + system) of this delivery process, "
                       "as of its last report (since it started)", ("child",),
                       [(k, c["cpu_seconds"]) for k, c in children])
        yield _gauge("delivery_process_resident_memory_bytes", "Resident memory of this delivery process, "
                     "as of its last report", ("child",), [(k, c["rss_bytes"]) for k, c in children])
