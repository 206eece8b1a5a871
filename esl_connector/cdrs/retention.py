"""``cdr.retention``: the CDR rows kept only to recognise a CDR received
again are forgotten once that cannot happen any more (docs/cdr.md).

Every ``PURGE_EVERY_S`` (and once at start) the ``done`` legs received
before ``now - retention`` and the files modified before it are deleted, in
small transactions on a worker thread (a large first purge must not freeze
the hub: the Event Socket, the HTTP API and deliveries run on it). It is
safe because the same age is refused at the door: the scanner skips files
modified before it unread, and ``CdrService.accept`` does not apply a leg
that ended before it, so a forgotten CDR is never processed a second time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import gevent

from storage import cdr_store

log = logging.getLogger(__name__)

PURGE_EVERY_S = 3600.0


class CdrRetention:
    def __init__(self, db, retention: float, scanner=None, clock: Callable[[], float] = time.time,
                 every: float = PURGE_EVERY_S):
        self.db, self.retention, self.scanner, self.clock, self.every = db, retention, scanner, clock, every
        self._greenlet: gevent.Greenlet | None = None
        self.purged_legs = self.purged_files = 0

    def purge(self) -> tuple[int, int]:
        """One pass: (legs, files) forgotten."""
        if self.retention <= 0:
            return 0, 0
        cutoff = self.clock() - self.retention
        legs, files = gevent.get_hub().threadpool.apply(cdr_store.purge_older_than, (self.db, cutoff))
        if self.scanner is not None:
            self.scanner.forget_older_than(cutoff)
        self.purged_legs += legs
        self.purged_files += files
        if legs or files:
            log.info("CDR retention: forgot %d legs and %d files older than %.0f s", legs, files,
                     self.retention)
        return legs, files

    def start(self) -> CdrRetention:
        if self.retention > 0:
            self._greenlet = gevent.spawn(self._run)
            self._greenlet.link_exception(lambda g: log.error("CDR retention died: %s", g.exception))
        return self

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill()
            self._greenlet = None

    def _run(self) -> None:
        while True:
            try:
                self.purge()
            except Exception:  # a database hiccup: the next pass retries
                log.exception("CDR retention failed; retrying in %.0f s", self.every)
            gevent.sleep(self.every)
