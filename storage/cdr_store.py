"""The CDR tables (docs/cdr.md): legs received, files read, corrections.

Each function opens the calling greenlet's connection for its statements
only (``connected``), like ``queries``. These writes are small and rare (one
per leg's CDR), so they are made at once, not through the ``StorageWriter``:
a CDR is stored before FreeSWITCH is told it was received.
"""

from __future__ import annotations

import time

import peewee

from esl_connector.records import CALL_LOG

from .db import connected
from .models import Call, CdrFile, CdrLeg, OutboxEvent

PENDING, DONE = "pending", "done"
CORRECTABLE = ("status", "hangup_cause", "duration", "billsec", "ended_at", "answered_at",
               "recording", "recordings", "end_source")


def add_leg(db: peewee.Database, uuid: str, callid: str, leg: dict, source: str,
            now: float | None = None) -> bool:
    """Store one leg's CDR; False if a CDR for this leg was already stored.

    One INSERT, its primary key deciding: a read first would open a read
    transaction that SQLite refuses to turn into a write (``database is
    locked``, without waiting) once the writer has committed meanwhile."""
    with connected(db):
        inserted = (CdrLeg.insert(uuid=uuid, callid=callid, leg=leg, source=source, state=PENDING,
                                  received_at=time.time() if now is None else now)
                    .on_conflict_ignore().as_rowcount().execute())
    return inserted == 1  # 0: stored already (a retry, a file and a POST of the same leg)


def mark_done(db: peewee.Database, uuids: list[str], now: float | None = None) -> None:
    if not uuids:
        return
    with connected(db), db.atomic():
        for start in range(0, len(uuids), 500):
            # The parsed leg is kept only while it may be needed again (pending):
            # a done row is just the key that makes a repeated CDR a duplicate.
            (CdrLeg.update(state=DONE, leg={}, done_at=time.time() if now is None else now)
             .where(CdrLeg.uuid.in_(uuids[start:start + 500])).execute())


def pending_legs(db: peewee.Database) -> list[dict]:
    """The legs still waiting for their call, oldest first."""
    with connected(db):
        query = CdrLeg.select(CdrLeg.leg).where(CdrLeg.state == PENDING).order_by(CdrLeg.received_at)
        return [row.leg for row in query]


def leg_states(db: peewee.Database, callid: str | None = None) -> dict[str, str]:
    """uuid -> state of every stored leg (of one call)."""
    with connected(db):
        query = CdrLeg.select(CdrLeg.uuid, CdrLeg.state)
        if callid is not None:
            query = query.where(CdrLeg.callid == callid)
        return {row.uuid: row.state for row in query}


def call_state(db: peewee.Database, callid: str) -> str:
    """The stored call's state (ringing | active | ended), "" if none."""
    with connected(db):
        row = Call.select(Call.state).where(Call.callid == callid).first()
    return row.state if row is not None else ""


def call_logged(db: peewee.Database, callid: str) -> bool:
    """Whether the call's log is in the outbox: it was reported, and its CDRs
    may only correct the stored call. A call stored ended without a log (seen
    too late to know its direction) is not: its CDRs can still report it."""
    with connected(db):
        return OutboxEvent.select(OutboxEvent.id).where(
            OutboxEvent.callid == callid, OutboxEvent.event_type == CALL_LOG).exists()


def correct_call(db: peewee.Database, callid: str, fields: dict) -> bool:
    """Overwrite some of a stored call's fields (only ``CORRECTABLE`` ones)."""
    values = {getattr(Call, k): v for k, v in fields.items() if k in CORRECTABLE}
    if not values:
        return False
    values[Call.updated_at] = time.time()
    with connected(db):
        return Call.update(values).where(Call.callid == callid).execute() > 0


def stored_call(db: peewee.Database, callid: str) -> dict | None:
    with connected(db):
        return Call.select(Call.callid, Call.direction, Call.state, *(getattr(Call, k) for k in CORRECTABLE)) \
            .where(Call.callid == callid).dicts().first()


def known_files(db: peewee.Database) -> dict[str, tuple[int, float]]:
    """path -> (size, mtime) of every CDR file read so far."""
    with connected(db):
        return {row.path: (row.size, row.mtime) for row in CdrFile.select(CdrFile.path, CdrFile.size, CdrFile.mtime)}


def remember_file(db: peewee.Database, path: str, size: int, mtime: float, outcome: str,
                  error: str = "", now: float | None = None) -> None:
    row = {"path": path, "size": size, "mtime": mtime, "outcome": outcome, "error": error[:500],
           "processed_at": time.time() if now is None else now}
    with connected(db):
        CdrFile.insert(row).on_conflict(conflict_target=[CdrFile.path], update=row).execute()


def purge_older_than(db: peewee.Database, older_than: float, chunk: int = 500) -> tuple[int, int]:
    """Forget what only matters for CDRs older than ``older_than`` (epoch
    seconds), in transactions of ``chunk`` rows: ``done`` legs received before
    it, and files whose recorded modification time is before it (the scanner
    skips such files unread, so forgetting them cannot make one read again).
    Pending legs are kept. Returns (legs, files) deleted."""
    legs = _purge(db, CdrLeg, CdrLeg.uuid, (CdrLeg.state == DONE) & (CdrLeg.received_at < older_than), chunk)
    files = _purge(db, CdrFile, CdrFile.path, CdrFile.mtime < older_than, chunk)
    return legs, files


def _purge(db: peewee.Database, model, key, condition, chunk: int) -> int:
    # One statement per chunk: a SELECT then a DELETE in one transaction would
    # take SQLite's read lock first, and turning it into the write lock fails
    # at once (``database is locked``) when the writer committed in between.
    doomed = model.select(key).where(condition).limit(chunk)
    deleted = 0
    with connected(db):
        while True:
            count = model.delete().where(key.in_(doomed)).execute(db)
            deleted += count
            if count < chunk:
                return deleted
