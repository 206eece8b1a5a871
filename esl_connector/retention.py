"""Retention: rows kept for a while, then deleted, off the hot path.

``PeriodicPurge`` runs one purge at start and then every ``every`` seconds,
its database work on a worker thread (a large first purge must not freeze
the hub: the Event Socket, the HTTP API and deliveries run on it), in small
transactions. ``CallRetention`` (``storage.call_retention``) deletes calls
that ended longer ago than that, with their outbox rows and delivery
attempts (``storage.queries.purge_ended_calls``: a call with an event still
due is kept). The CDR tables have their own (``cdrs/retention.py``), and dead
letters theirs (``delivery.dead_retention``, in the delivery engine).
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable

import gevent

from storage import queries

log = logging.getLogger(__name__)

PURGE_EVERY_S = 3600.0
RETRY_AFTER_FAILURE_S = 60.0


class PeriodicPurge(ABC):
    name = "retention"

    def __init__(self, db, retention: float, clock: Callable[[], float] = time.time,
                 every: float = PURGE_EVERY_S):
        self.db, self.retention, self.clock, self.every = db, retention, clock, every
        self._greenlet: gevent.Greenlet | None = None

    @abstractmethod
    def purge(self) -> int:
        """One pass, on the worker thread: the number of rows deleted."""

    def in_thread(self, fn, *args):
        return gevent.get_hub().threadpool.apply(fn, args)

    def start(self):
        if self.retention > 0:
            self._greenlet = gevent.spawn(self._run)
            self._greenlet.link_exception(lambda g: log.error("%s died: %s", self.name, g.exception))
        return self

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill()
            self._greenlet = None

    def _run(self) -> None:
        while True:
            wait = self.every
            try:
                self.purge()
            except Exception:  # a database hiccup: a pass soon retries
                wait = min(self.every, RETRY_AFTER_FAILURE_S)
                log.exception("%s failed; retrying in %.0f s", self.name, wait)
            gevent.sleep(wait)


class CallRetention(PeriodicPurge):
    name = "call retention"

    def __init__(self, db, retention: float, **kwargs):
        super().__init__(db, retention, **kwargs)
        self.purged = 0

    def purge(self) -> int:
        """One pass: the number of calls deleted (their rows logged by the query)."""
        if self.retention <= 0:
            return 0
        deleted = self.in_thread(queries.purge_ended_calls, self.db, self.clock() - self.retention)
        self.purged += deleted
        return deleted
