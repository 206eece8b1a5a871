"""``cdr.retention``: the CDR rows kept only to recognise a CDR received
again are forgotten once that cannot happen any more (docs/cdr.md).

At start and then hourly (``esl_connector.retention.PeriodicPurge``: on a
worker thread, in small transactions) the ``done`` legs received before
``now - retention`` and the files modified before it are deleted. It is
safe because the same age is refused at the door: the scanner skips files
modified before it unread, and ``CdrService.accept`` does not apply a leg
that ended before it, so a forgotten CDR is never processed a second time.
"""

from __future__ import annotations

import logging

from storage import cdr_store

from ..retention import PeriodicPurge

log = logging.getLogger(__name__)


class CdrRetention(PeriodicPurge):
    name = "CDR retention"

    def __init__(self, db, retention: float, scanner=None, **kwargs):
        super().__init__(db, retention, **kwargs)
        self.scanner = scanner
        self.purged_legs = self.purged_files = 0

    def purge(self) -> tuple[int, int]:
        """One pass: (legs, files) forgotten."""
        if self.retention <= 0:
            return 0, 0
        cutoff = self.clock() - self.retention
        legs, files = self.in_thread(cdr_store.purge_older_than, self.db, cutoff)
        if self.scanner is not None:
            self.scanner.forget_older_than(cutoff)
        self.purged_legs += legs
        self.purged_files += files
        if legs or files:
            log.info("CDR retention: forgot %d legs and %d files older than %.0f s", legs, files,
                     self.retention)
        return legs, files
