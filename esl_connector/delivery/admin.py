"""Looking at deliveries and acting on them: the layer under
``esl-connector deliveries ...`` and, later, the status API and the TUI.

Every function takes the database explicitly and returns plain dataclasses.
They only write the outbox row (never send anything): a replayed row becomes
due, and the running engine picks it up within ``poll_interval`` (another
process) or at once (``engine.wake()`` from the connector that made the change,
forwarded to its delivery process when delivery runs there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

import peewee

from storage.db import connected, write_transaction
from storage.models import (
    DEAD,
    DELIVERED,
    EXPIRED,
    OUTBOX_DUE,
    PENDING,
    RETRYING,
    SKIPPED,
    Call,
    DeliveryAttempt,
    OutboxEvent,
)
from storage.views import StoredEvent

from ..records import CALL_LOG

_EVENT_COLUMNS = [OutboxEvent._meta.fields[n] for n in StoredEvent.__slots__]
FINISHED = (DELIVERED, DEAD, SKIPPED, EXPIRED)


class DeliveryAdminError(Exception):
    """The request cannot be done (unknown row...); the message says why."""


@dataclass(slots=True)
class StoredAttempt:
    id: int
    at: float
    url: str  # secrets redacted
    status_code: int | None
    latency_ms: float | None
    error: str
    response_excerpt: str
    # v5: the request as sent (method, url, headers, body..., secrets as ***);
    # None for an attempt recorded before requests were kept.
    request: dict | None = None


@dataclass(slots=True)
class DeliveryDetail:
    event: StoredEvent
    attempts: list[StoredAttempt] = field(default_factory=list)  # oldest first
    # A call log's call: how its end became known ("" from its events,
    # "lost_track": closed at a reconnect with what was known, "cdr").
    call_end_source: str = ""


# What ``deliveries show`` and the status API say about a call log's figures.
END_SOURCE_NOTES = {
    "lost_track": "the call ended while the connector was away (restart, crash or lost "
                  "connection); its log was closed when the connector came back, with what was "
                  "known: duration and billsec are upper bounds, a call not answered before "
                  "the gap is FAILED",
    "cdr": "the call's end came from FreeSWITCH's CDR (its hangup events were missed)",
}


def _events(db, query) -> list[StoredEvent]:
    with connected(db):
        return [StoredEvent(**row) for row in query.dicts().execute(db)]


def list_deliveries(db: peewee.Database, status: str | None = None, customer: str | None = None,
                    callid: str | None = None, limit: int = 50,
                    before_id: int | None = None) -> list[StoredEvent]:
    """Outbox rows, newest first, filtered; page on with ``before_id``."""
    query = OutboxEvent.select(*_EVENT_COLUMNS)
    if status:
        query = query.where(OutboxEvent.status == status)
    if customer is not None:
        query = query.where(OutboxEvent.customer == customer)
    if callid:
        query = query.where(OutboxEvent.callid == callid)
    if before_id is not None:
        query = query.where(OutboxEvent.id < before_id)
    return _events(db, query.order_by(OutboxEvent.id.desc()).limit(limit))


def get_delivery(db: peewee.Database, key: int | str) -> DeliveryDetail | None:
    """One row by id or by event_id, with every attempt recorded for it."""
    key = str(key).strip()
    where = OutboxEvent.id == int(key) if key.isdigit() else OutboxEvent.event_id == key
    events = _events(db, OutboxEvent.select(*_EVENT_COLUMNS).where(where))
    if not events:
        return None
    query = (DeliveryAttempt.select(DeliveryAttempt.id, DeliveryAttempt.at, DeliveryAttempt.url,
                                    DeliveryAttempt.status_code, DeliveryAttempt.latency_ms,
                                    DeliveryAttempt.error, DeliveryAttempt.response_excerpt,
                                    DeliveryAttempt.request)
             .where(DeliveryAttempt.outbox == events[0].id).order_by(DeliveryAttempt.id))
    with connected(db):
        attempts = [StoredAttempt(**row) for row in query.dicts().execute(db)]
        end_source = ""
        if events[0].event_type == CALL_LOG:
            row = Call.select(Call.end_source).where(Call.callid == events[0].callid).tuples().execute(db)
            end_source = next(iter(row), ("",))[0]
    return DeliveryDetail(events[0], attempts, end_source)


def retry(db: peewee.Database, key: int | str, now: float) -> StoredEvent:
    """Send one row again. A delivered, dead, skipped or expired row is replayed: it
    becomes pending with a fresh retry schedule (its age counts from now). A
    row still pending or retrying is only made due now."""
    detail = get_delivery(db, key)
    if detail is None:
        raise DeliveryAdminError(f"no outbox row {key}")
    row_id = detail.event.id
    with connected(db), db.atomic():
        (OutboxEvent.update(**_replayed(now)).where(OutboxEvent.id == row_id,
                                                    OutboxEvent.status.in_(FINISHED))
         .execute(db))
        (OutboxEvent.update(next_attempt_at=now)
         .where(OutboxEvent.id == row_id, OutboxEvent.status.in_(OUTBOX_DUE)).execute(db))
    return get_delivery(db, row_id).event


def retry_all_dead(db: peewee.Database, customer: str, now: float) -> int:
    """Replay every dead letter of ``customer``; the number of rows."""
    with connected(db), db.atomic():
        return (OutboxEvent.update(**_replayed(now))
                .where(OutboxEvent.status == DEAD, OutboxEvent.customer == customer)
                .execute(db))


def retry_since(db: peewee.Database, customer: str, since: float, now: float) -> tuple[int, int]:
    """Replay what failed for ``customer`` from ``since`` on (after an outage):
    dead letters and retrying rows created, replayed or attempted since then.
    Dead rows are replayed (pending, a fresh schedule); retrying rows are made
    due now. Returns (replayed, made due)."""
    attempted = (DeliveryAttempt.select(DeliveryAttempt.id)
                 .where(DeliveryAttempt.outbox == OutboxEvent.id, DeliveryAttempt.at >= since))
    in_window = ((OutboxEvent.customer == customer)
                 & ((OutboxEvent.created_at >= since) | (OutboxEvent.replayed_at >= since)
                    | peewee.fn.EXISTS(attempted)))
    with connected(db), write_transaction(db):
        ids = [row[0] for row in OutboxEvent.select(OutboxEvent.id)
               .where(in_window, OutboxEvent.status.in_((DEAD, RETRYING))).tuples().execute(db)]
        replayed = (OutboxEvent.update(**_replayed(now))
                    .where(OutboxEvent.id.in_(ids), OutboxEvent.status == DEAD).execute(db))
        due = (OutboxEvent.update(next_attempt_at=now)
               .where(OutboxEvent.id.in_(ids), OutboxEvent.status == RETRYING).execute(db))
    return replayed, due


_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|min|h|d)")
_UNIT = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: float) -> float:
    """``--since``: epoch seconds (1716000000), a local or offset ISO 8601
    time (2026-11-27T10:30, 2026-11-27 10:30:00+07:00) or a time ago (90s,
    30m, 2h, 1d). ValueError with a readable message otherwise."""
    text = text.strip()
    if match := _RELATIVE.fullmatch(text):
        return now - float(match.group(1)) * _UNIT[match.group(2)]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ValueError(f"{text!r}: expected epoch seconds, an ISO 8601 time "
                         "(2026-11-27T10:30) or a time ago (30m, 2h, 1d)") from None


def _replayed(now: float) -> dict:
    return {"status": PENDING, "attempts": 0, "next_attempt_at": now, "replayed_at": now,
            "last_error": "", "delivered_at": None, "finished_at": None, "claimed_by": "",
            "claim_until": 0.0}


def purge_finished(db: peewee.Database, older_than: float, chunk: int = 500) -> int:
    """Delete dead, skipped and expired rows (with their attempts) that ended before
    ``older_than``; the number deleted. Delivered rows go with their call
    (storage.queries.purge_ended_calls)."""
    candidates = (OutboxEvent.select(OutboxEvent.id)
                  .where(OutboxEvent.status.in_((DEAD, SKIPPED, EXPIRED)),
                         OutboxEvent.finished_at < older_than).limit(chunk))
    deleted = 0
    with connected(db):
        while True:
            with write_transaction(db):
                ids = [row[0] for row in candidates.tuples().execute(db)]
                if not ids:
                    return deleted
                DeliveryAttempt.delete().where(DeliveryAttempt.outbox.in_(ids)).execute(db)
                deleted += OutboxEvent.delete().where(OutboxEvent.id.in_(ids)).execute(db)
