"""The delivery engine's writes: what an outcome does to an outbox row.

``transition_for`` is pure (outcome + row + clock -> new state);
``apply_transition`` writes the new state and the attempt log in ONE
transaction, and only if the row is still where the engine left it (due, same
attempt count, still claimed by this engine's instance, ``claims``): a row is
never marked twice, and a claim another instance took over is kept. Each function runs on the
engine's database thread and takes the database explicitly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import peewee

from esl_connector.records import CALL_LOG
from storage.models import (
    DEAD,
    DELIVERED,
    EXPIRED,
    OUTBOX_DUE,
    PENDING,
    RETRYING,
    SKIPPED,
    DeliveryAttempt,
    OutboxEvent,
)
from storage.views import StoredEvent

from . import types as wt
from .retry_schedule import RetrySchedule, format_duration

MAX_ERROR_CHARS = 2000


@dataclass(slots=True)
class Transition:
    """The new state of one outbox row after a delivery, and its attempt log."""

    outbox_id: int
    expect_attempts: int  # the row's attempts when it was picked (optimistic check)
    status: str
    attempts: int
    next_attempt_at: float
    last_error: str
    customer: str
    delivered_at: float | None = None
    finished_at: float | None = None
    log: list[wt.AttemptResult] = field(default_factory=list)
    endpoint: str = ""  # where it went ("" : unchanged), ``endpoints_of``
    claimed_by: str = ""  # the instance that held the row (claims); the write clears it


def transition_for(event: StoredEvent, customer: str, outcome: wt.Outcome, now: float,
                   schedule: RetrySchedule, rng: random.Random | None = None,
                   held: bool = False) -> Transition:
    """``held``: the row failed on an endpoint that is down (endpoint health):
    it goes back to pending (due, in id order with the rows never tried) and is
    sent when the endpoint is back instead of waiting for its own next retry;
    the attempt still counts, and so does the age limit."""
    attempts = event.attempts + 1
    t = Transition(event.id, event.attempts, RETRYING, attempts, event.next_attempt_at,
                   outcome.reason[:MAX_ERROR_CHARS], customer, log=list(outcome.attempts),
                   endpoint=endpoints_of(outcome))
    if outcome.verdict == wt.DELIVERED:
        t.status, t.delivered_at, t.finished_at, t.last_error = DELIVERED, now, now, ""
    elif outcome.verdict == wt.GIVE_UP:
        t.status, t.finished_at = DEAD, now
        t.last_error = f"permanent failure: {outcome.reason}"[:MAX_ERROR_CHARS]
    else:
        origin = max(event.created_at, event.replayed_at)
        at = schedule.next_attempt(attempts, origin, now, outcome.retry_after, rng)
        if held and now <= origin + schedule.max_age:
            t.status, at = PENDING, event.created_at  # oldest first; the engine keeps it back
        if at is None:
            t.status, t.finished_at = DEAD, now
            t.last_error = (f"gave up after {attempts} attempt{'s' if attempts > 1 else ''} in "
                            f"{format_duration(now - origin)}: {outcome.reason}")[:MAX_ERROR_CHARS]
        else:
            t.next_attempt_at = at
    return t


def endpoints_of(outcome: wt.Outcome) -> str:
    """The endpoints (space separated, in plan order) a row went to: those that
    took it when delivered, every one tried otherwise ("" when none was)."""
    attempts = outcome.attempts
    if outcome.verdict == wt.DELIVERED:
        attempts = [a for a in attempts if a.status_code is not None and 200 <= a.status_code < 300]
    return " ".join(dict.fromkeys(a.endpoint for a in attempts if a.endpoint))


def _text(value: str, limit: int = MAX_ERROR_CHARS) -> str:
    """A CRM's answer may hold NUL bytes, which PostgreSQL's text refuses: the
    write would fail and the delivered row would stay due, sent again and again."""
    return value.replace("\x00", "")[:limit]


def apply_transition(db: peewee.Database, t: Transition) -> bool:
    """Write ``t``; False if the row had changed meanwhile (then only the
    attempt log is written: those requests were sent all the same)."""
    return apply_transitions(db, [t])[0]


def apply_transitions(db: peewee.Database, transitions: list[Transition]) -> list[bool]:
    """Write several rows' transitions in ONE transaction (the engine's group
    commit of outcomes); one bool per transition, as ``apply_transition``.
    The statements are prepared SQL (``executemany`` for the attempt log):
    building them with peewee's query builder cost more than running them."""
    db.connect(reuse_if_open=True)
    # the driver's own errors as peewee's (a locked SQLite file, a lost server): the
    # recorder retries those, and holds back only an outcome the database refuses
    with peewee.__exception_wrapper__, db.atomic():
        cursor = db.cursor()
        update = _update_sql(db)
        written = []
        for t in transitions:
            cursor.execute(update, (t.status, t.attempts, t.next_attempt_at, _text(t.last_error),
                                    t.customer, t.delivered_at, t.finished_at, t.endpoint or "",
                                    t.outbox_id,
                                    *OUTBOX_DUE, t.expect_attempts, t.claimed_by))
            written.append(cursor.rowcount > 0)
        log_rows = [_attempt_row(t, a) for t in transitions for a in t.log]
        if log_rows:
            columns = list(log_rows[0])
            cursor.executemany(_insert_sql(db, tuple(columns)),
                               [_attempt_values(row, columns) for row in log_rows])
    return written


def _update_sql(db: peewee.Database) -> str:
    p = db.param
    return (f'UPDATE "{OutboxEvent._meta.table_name}" SET "status" = {p}, "attempts" = {p}, '
            f'"next_attempt_at" = {p}, "last_error" = {p}, "customer" = {p}, "delivered_at" = {p}, '
            f'"finished_at" = {p}, "endpoint" = COALESCE(NULLIF({p}, \'\'), "endpoint"), '
            f'"claimed_by" = \'\', "claim_until" = 0 '
            f'WHERE "id" = {p} AND "status" IN ({", ".join([p] * len(OUTBOX_DUE))}) '
            f'AND "attempts" = {p} AND "claimed_by" = {p}')


_ATTEMPT_FIELDS = DeliveryAttempt._meta.fields


def _insert_sql(db: peewee.Database, columns: tuple[str, ...]) -> str:
    names = ", ".join(f'"{_ATTEMPT_FIELDS[c].column_name}"' for c in columns)
    return (f'INSERT INTO "{DeliveryAttempt._meta.table_name}" ({names}) '
            f'VALUES ({", ".join([db.param] * len(columns))})')


def _attempt_values(row: dict, columns: list[str]) -> tuple:
    return tuple(_ATTEMPT_FIELDS[c].db_value(row[c]) for c in columns)


def _attempt_row(t: Transition, a: wt.AttemptResult) -> dict:
    return {"outbox": t.outbox_id, "at": a.started_at, "url": _text(a.url, len(a.url)),
            "status_code": a.status_code, "latency_ms": a.latency_ms, "error": _text(a.error),
            "response_excerpt": _text(a.response_excerpt, len(a.response_excerpt)),
            "request": a.request}


def mark_skipped(db: peewee.Database, events: list[StoredEvent], now: float) -> None:
    """Rows no customer owns: never sent, kept visible with the reason."""
    db.connect(reuse_if_open=True)
    with db.atomic():
        for event in events:
            (OutboxEvent.update(status=SKIPPED, finished_at=now, customer="", claimed_by="",
                                claim_until=0.0,
                                last_error=f"no customer owns extension "
                                           f"{event.extension}@{event.domain}")
             .where(OutboxEvent.id == event.id, OutboxEvent.status.in_(OUTBOX_DUE))
             .execute(db))


def release_held(db: peewee.Database, customers: list[str]) -> int:
    """An endpoint of these customers is back: every retrying row of theirs
    goes back to pending, due now (``next_attempt_at = created_at``), so the
    backlog drains at once, oldest first (pending rows go in id order), instead
    of each row waiting for its own next retry. The number of rows released."""
    if not customers:
        return 0
    db.connect(reuse_if_open=True)
    with db.atomic():
        return (OutboxEvent.update(status=PENDING, next_attempt_at=OutboxEvent.created_at)
                .where(OutboxEvent.customer.in_(customers), OutboxEvent.status == RETRYING)
                .execute(db))


def expiry(event: StoredEvent, plan: wt.DeliveryPlan, now: float) -> str:
    """Why a start event is too old to be sent now ("" when it is not, and
    always for a call log). Its age counts from its creation or last replay."""
    if not plan.expire_after or event.event_type == CALL_LOG:
        return ""
    age = now - max(event.created_at, event.replayed_at)
    if age <= plan.expire_after:
        return ""
    return (f"expired: {format_duration(age)} old when it could be sent "
            f"(expire_after = {format_duration(plan.expire_after)})")


def mark_expired(db: peewee.Database, rows: list[tuple[int, str, str]], now: float) -> None:
    """(row id, customer, reason): start events never sent, kept visible."""
    db.connect(reuse_if_open=True)
    with db.atomic():
        for row_id, customer, reason in rows:
            (OutboxEvent.update(status=EXPIRED, finished_at=now, customer=customer, claimed_by="",
                                claim_until=0.0,
                                last_error=reason[:MAX_ERROR_CHARS])
             .where(OutboxEvent.id == row_id, OutboxEvent.status.in_(OUTBOX_DUE))
             .execute(db))


def stamp_customers(db: peewee.Database, customers: dict[int, str]) -> None:
    """Record which customer rows belong to, so the due query can leave out
    a saturated customer's backlog without planning it again."""
    by_customer: dict[str, list[int]] = {}
    for row_id, customer in customers.items():
        by_customer.setdefault(customer, []).append(row_id)
    db.connect(reuse_if_open=True)
    with db.atomic():
        for customer, ids in by_customer.items():
            OutboxEvent.update(customer=customer).where(OutboxEvent.id.in_(ids)).execute(db)
