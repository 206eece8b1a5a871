"""Each leg's CDR stored once, then applied to the call tracker (docs/cdr.md).

``accept(doc, source)`` runs on the greenlet of the HTTP request or of the
directory scan: it parses (``CdrError`` -> the caller answers 400), stores
the leg in ``cdr_legs`` (a CDR already stored is a duplicate: answered as
received, applied never again), then hands it to the tracker. What the
tracker produces goes through the ``StorageWriter`` like any event's
changes; the leg is marked ``done`` once that is committed. A leg still
waiting for its call's other legs stays ``pending`` in the table, and
``restore()`` gives it back to the tracker after a restart.

A call whose stored row says ``ended`` was already reported (by the Event
Socket, or before a restart): its CDRs never make a second call log; they
correct the stored call's fields the CDR wins (``reconcile``) when the
Event Socket's view was a guess (``CONNECTOR_LOST_TRACK``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

import gevent

from storage import cdr_store
from storage.db import connected

from ..calls.cdr import CdrError, CdrLeg, parse_cdr
from ..calls.cdr_calls import CdrResult
from ..calls.tracker import Tracker
from ..records import CallRecord

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
LOST_TRACK = "CONNECTOR_LOST_TRACK"
ACCEPTED, DUPLICATE, EXPIRED = "accepted", "duplicate", "expired"


def reconcile(stored: dict, cdr: CallRecord) -> dict:
    """The fields of an already reported, stored call that its CDRs correct:
    all of ``CORRECTABLE`` when the stored view closed a leg as lost (times
    were then an upper bound, the cause unknown), else only a missing
    recording. Never anything for a call of another direction."""
    if stored.get("direction") != cdr.direction or stored.get("state") != "ended":
        return {}
    if stored.get("hangup_cause") == LOST_TRACK or not stored.get("ended_at"):
        return {name: getattr(cdr, name) for name in cdr_store.CORRECTABLE}
    if not stored.get("recording") and cdr.recording:
        return {"recording": cdr.recording, "recordings": list(cdr.recordings)}
    return {}


class CdrService:
    def __init__(self, db, tracker: Tracker, writer, clock: Callable[[], float] = time.time,
                 retention: float = 0.0):
        self.db, self.tracker, self.writer, self.clock = db, tracker, writer, clock
        self.retention = retention  # cdr.retention: a leg that ended before it may be forgotten
        self._ticker: gevent.Greenlet | None = None
        self.accepted = self.duplicates = self.rejected = self.expired = 0

    def status(self) -> dict:
        """For the health endpoint: CDRs stored, repeated, refused; legs waiting."""
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected,
                "expired": self.expired, "waiting_legs": self.tracker.cdrs.waiting()}

    # -- ingestion --------------------------------------------------------
    def accept(self, doc: Any, source: str, expected_uuid: str = "") -> str:
        """Store and apply one CDR document. Returns ``accepted``,
        ``duplicate`` or ``expired`` (the leg ended more than ``retention`` ago:
        its row may have been forgotten, so it is neither stored nor applied);
        raises ``CdrError`` (nothing stored) if unusable."""
        try:
            leg = parse_cdr(doc)
            if expected_uuid and expected_uuid != leg.uuid:
                raise CdrError("the URL's uuid is not the CDR's variables.uuid")
        except CdrError:
            self.rejected += 1
            raise
        if self._expired(leg):
            self.expired += 1
            log.warning("CDR of leg %s (call %s) ignored: it ended more than cdr.retention (%.0f s) ago",
                        leg.uuid, leg.callid, self.retention)
            return EXPIRED
        with connected(self.db):  # one connection for its few statements
            return self._store_and_apply(leg, source)

    def _store_and_apply(self, leg: CdrLeg, source: str) -> str:
        if not cdr_store.add_leg(self.db, leg.uuid, leg.callid, dataclasses.asdict(leg), source, self.clock()):
            self.duplicates += 1
            log.info("CDR of leg %s (call %s) received again: already stored", leg.uuid, leg.callid)
            return DUPLICATE
        self.accepted += 1
        reported = cdr_store.call_logged(self.db, leg.callid)
        self._apply(self.tracker.handle_cdr(leg, self.clock(), reported))
        return ACCEPTED

    def _expired(self, leg: CdrLeg) -> bool:
        return self.retention > 0 and 0 < leg.end_uepoch / 1e6 < self.clock() - self.retention

    def restore(self) -> int:
        """Give the tracker back the legs stored as pending (before a restart)."""
        with connected(self.db):
            legs = cdr_store.pending_legs(self.db)
            for row in legs:
                leg = CdrLeg(**row)
                reported = cdr_store.call_logged(self.db, leg.callid)
                self._apply(self.tracker.handle_cdr(leg, self.clock(), reported))
        if legs:
            log.info("%d CDR legs waiting for their calls were restored", len(legs))
        return len(legs)

    def tick(self) -> None:
        self._apply(self.tracker.cdr_tick(self.clock()))

    def _apply(self, result: CdrResult) -> None:
        if result.changes:
            self.writer.submit(result.changes)
            if not self.writer.flush():
                log.warning("CDR changes not committed yet; their legs stay pending")
                return
        for record in result.reported:
            stored = cdr_store.stored_call(self.db, record.callid)
            fields = reconcile(stored, record) if stored else {}
            if fields and cdr_store.correct_call(self.db, record.callid, fields):
                log.info("call %s corrected from its CDRs: %s", record.callid, ", ".join(sorted(fields)))
        cdr_store.mark_done(self.db, result.done, self.clock())

    # -- the ticker: closes CDR-only calls whose legs stopped coming --------
    def start(self) -> CdrService:
        self.restore()
        self._ticker = gevent.spawn(self._tick_forever)
        self._ticker.link_exception(lambda g: log.error("CDR ticker died: %s", g.exception))
        return self

    def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.kill()
            self._ticker = None

    def _tick_forever(self) -> None:
        while True:
            gevent.sleep(TICK_SECONDS)
            try:
                self.tick()
            except Exception:  # a database hiccup must not stop the ticker
                log.exception("closing CDR-only calls failed; retrying in %.0f s", TICK_SECONDS)
