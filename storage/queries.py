"""The read side, for the status API, the CLI and the delivery engine.

Every function takes the database explicitly, runs its queries on it and
returns dataclasses from ``storage.views``. Each opens the calling greenlet's
connection only for its own queries and closes it again (see
``db.connected``), so no connection or read transaction outlives a request.
These functions block on I/O: call them from a threadpool worker when they
may be slow (large purges), the same way the writer does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterator

import peewee

from esl_connector.records import CALL_LOG

from .db import connected, write_transaction
from .models import OUTBOX_DUE, OUTBOX_STATUSES, PENDING, Call, Extension, OutboxEvent
from .views import StoredCall, StoredEvent, StoredExtension

log = logging.getLogger(__name__)

ENDED = "ended"
_CALL_COLUMNS = [Call._meta.fields[n] for n in StoredCall.__slots__ if n != "events"]
_EXTENSION_COLUMNS = [Extension._meta.fields[n] for n in StoredExtension.__slots__]
_EVENT_COLUMNS = [OutboxEvent._meta.fields[n] for n in StoredEvent.__slots__]


def not_ended(state):
    """``state != 'ended'`` as two ranges of the ``(state, started_at)`` index:
    the calls in progress are read, not every call ever stored."""
    return (state < ENDED) | (state > ENDED)


def _calls(db, query) -> list[StoredCall]:
    with connected(db):
        return [StoredCall(**row) for row in query.dicts().execute(db)]


def _events(db, query) -> list[StoredEvent]:
    with connected(db):
        return [StoredEvent(**row) for row in query.dicts().execute(db)]


def _json_list_has(column, value: str):
    """Portable "the JSON text list contains value" (ILIKE is LIKE on SQLite);
    the pattern bypasses JSONField's own conversion."""
    pattern = peewee.Value(f"%{json.dumps(value)}%", converter=False)
    return peewee.Expression(column, peewee.OP.ILIKE, pattern)


def list_calls(db: peewee.Database, active: bool | None = None, extension: str | None = None,
               limit: int = 100, before: float | None = None, node: str | None = None,
               nodes: list[str] | None = None) -> list[StoredCall]:
    """Calls, newest first. ``active``: True = not ended, False = ended only;
    ``node``: on that FreeSWITCH node only; ``nodes``: on one of those;
    ``extension``: answered by or rung on it; ``before``: started before this
    epoch time (to page on from the last call's ``started_at``)."""
    query = Call.select(*_CALL_COLUMNS)
    if active is True:
        query = query.where(not_ended(Call.state))
    elif active is False:
        query = query.where(Call.state == ENDED)
    if node:
        query = query.where(Call.node == node)
    if nodes is not None:
        query = query.where(Call.node.in_(nodes))
    if extension:
        query = query.where((Call.extension == extension) | _json_list_has(Call.extensions,
                                                                           extension))
    if before is not None:
        query = query.where(Call.started_at < before)
    # the calls in progress are few: read them by state and sort them, rather
    # than walk every call ever stored newest first looking for them
    newest = Call.started_at + 0 if active is True else Call.started_at
    query = query.order_by(newest.desc(), Call.callid.desc()).limit(limit)
    return _calls(db, query)


def get_call(db: peewee.Database, callid: str) -> StoredCall | None:
    """One call with its outbox events in order, or None."""
    calls = _calls(db, Call.select(*_CALL_COLUMNS).where(Call.callid == callid))
    if not calls:
        return None
    call = calls[0]
    call.events = _events(db, OutboxEvent.select(*_EVENT_COLUMNS)
                          .where(OutboxEvent.callid == callid).order_by(OutboxEvent.id))
    return call


def list_extensions(db: peewee.Database, domain: str | None = None,
                    nodes: list[str] | None = None) -> list[StoredExtension]:
    """``nodes``: those FreeSWITCH nodes' extensions only (None: every node's)."""
    query = Extension.select(*_EXTENSION_COLUMNS)
    if domain is not None:
        query = query.where(Extension.domain == domain)
    if nodes is not None:
        query = query.where(Extension.node.in_(nodes))
    query = query.order_by(Extension.domain, Extension.extension, Extension.node)
    with connected(db):
        return [StoredExtension(**row) for row in query.dicts().execute(db)]


def list_outbox(db: peewee.Database, status: str | None = None, callid: str | None = None,
                limit: int = 100, before_id: int | None = None) -> list[StoredEvent]:
    """Outbox rows, newest first; page on with ``before_id`` = the last id seen."""
    query = OutboxEvent.select(*_EVENT_COLUMNS)
    if status is not None:
        query = query.where(OutboxEvent.status == status)
    if callid is not None:
        query = query.where(OutboxEvent.callid == callid)
    if before_id is not None:
        query = query.where(OutboxEvent.id < before_id)
    return _events(db, query.order_by(OutboxEvent.id.desc()).limit(limit))


def outbox_counts(db: peewee.Database) -> dict[str, int]:
    """Number of outbox rows per status, every known status present: read
    from the tally the outbox's triggers keep (``storage.schema_v9``), a few
    rows whatever the size of the outbox, exact in the read's snapshot."""
    counts = dict.fromkeys(OUTBOX_STATUSES, 0)
    with connected(db):
        for status, count in db.execute_sql(_TALLY_SQL).fetchall():
            if count or status in counts:
                counts[status] = int(count)
    return counts


_TALLY_SQL = 'SELECT "status", SUM("delta") FROM "outbox_tally" GROUP BY "status"'
_TALLY_KEY = "status, customer, endpoint, event_type, extension, domain"
_KEYED_SQL = (f"SELECT {_TALLY_KEY}, SUM(delta), MAX(last_at) FROM outbox_tally "
              f"GROUP BY {_TALLY_KEY} HAVING SUM(delta) <> 0")


def outbox_tally(db: peewee.Database) -> list[tuple[tuple, int, float | None]]:
    """The outbox's rows by (status, customer, endpoint, event_type, extension,
    domain) as its triggers keep them (extension and domain "" once a customer
    is known): (key, rows, latest delivered_at), a few rows per customer and
    endpoint whatever the size of the outbox."""
    with connected(db):
        return [(tuple(row[:6]), int(row[6]), row[7]) for row in db.execute_sql(_KEYED_SQL).fetchall()]


def oldest_due(db: peewee.Database) -> dict[tuple, float]:
    """The oldest ``created_at`` of the due rows (pending, retrying) by tally
    key (``outbox_tally``): reads the backlog only, through ``(status, ...)``."""
    owner = "CASE WHEN customer = '' THEN {0} ELSE '' END"
    p = db.param
    sql = (f"SELECT status, customer, endpoint, event_type, {owner.format('extension')}, "
           f"{owner.format('domain')}, MIN(created_at) FROM outbox WHERE status IN ({p}, {p}) "
           f"GROUP BY 1, 2, 3, 4, 5, 6")
    with connected(db):
        return {tuple(row[:6]): row[6] for row in db.execute_sql(sql, OUTBOX_DUE).fetchall()}


def pending_outbox(db: peewee.Database, now: float, limit: int | None = None,
                   page_size: int = 200) -> Iterator[StoredEvent]:
    """Rows due for delivery (pending or retrying, ``next_attempt_at <= now``)
    in id order, fetched ``page_size`` at a time by id (keyset paging): no
    cursor or read transaction is held between pages."""
    last_id, returned = 0, 0
    while limit is None or returned < limit:
        size = page_size if limit is None else min(page_size, limit - returned)
        page = _events(db, OutboxEvent.select(*_EVENT_COLUMNS)
                       .where(OutboxEvent.status.in_(OUTBOX_DUE),
                              OutboxEvent.next_attempt_at <= now,
                              OutboxEvent.id > last_id)
                       .order_by(OutboxEvent.id).limit(size))
        yield from page
        returned += len(page)
        if len(page) < size:
            return
        last_id = page[-1].id


def due_for_delivery(db: peewee.Database, now: float, status: str, *,
                     after: tuple[float, int] | int | None = None, limit: int = 200,
                     exclude_customers: Collection[str] = (),
                     exclude_ids: Collection[int] = ()) -> list[tuple[StoredEvent, dict]]:
    """One page of ``status`` rows (pending or retrying) the delivery engine may
    send now, each with its call's CRM pass-through ``params`` ({} when none).

    Pending rows come in id order, paged by id (``after`` = the last id);
    retrying rows in (next_attempt_at, id) order, paged by that pair. Both walk
    an index in order (``(status, id)``, ``(status, next_attempt_at)``), so a
    page costs what it returns, not the size of the backlog.

    Left out: rows not due yet, ``exclude_ids`` (in flight), customers in
    ``exclude_customers`` (saturated), and, the ordering rule, a call log
    (``call_answered``) while an earlier event of its call is pending or retrying."""
    earlier = OutboxEvent.alias("earlier")
    blocker = earlier.select(earlier.id).where(
        earlier.callid == OutboxEvent.callid, earlier.id < OutboxEvent.id,
        earlier.status.in_(OUTBOX_DUE))
    query = (OutboxEvent.select(*_EVENT_COLUMNS, Call.params.alias("call_params"))
             .join(Call, peewee.JOIN.LEFT_OUTER, on=(Call.callid == OutboxEvent.callid))
             .where(OutboxEvent.status == status, OutboxEvent.next_attempt_at <= now,
                    (OutboxEvent.event_type != CALL_LOG) | ~peewee.fn.EXISTS(blocker)))
    if status == PENDING:
        # always a range on id, even for the first page: without it SQLite walks
        # (status, next_attempt_at) and sorts every pending row for the LIMIT
        query = query.where(OutboxEvent.id > (after or 0)).order_by(OutboxEvent.id)
    else:
        if after is not None:
            at, last_id = after
            query = query.where((OutboxEvent.next_attempt_at > at)
                                | ((OutboxEvent.next_attempt_at == at) & (OutboxEvent.id > last_id)))
        query = query.order_by(OutboxEvent.next_attempt_at, OutboxEvent.id)
    if exclude_customers:
        query = query.where(OutboxEvent.customer.not_in(list(exclude_customers)))
    if exclude_ids:
        query = query.where(OutboxEvent.id.not_in(list(exclude_ids)))
    with connected(db):
        rows = list(query.limit(limit).dicts().execute(db))
    page = []
    for row in rows:
        params = row.pop("call_params")
        page.append((StoredEvent(**row), params if isinstance(params, dict) else {}))
    return page


def purge_ended_calls(db: peewee.Database, older_than: float, chunk: int = 500) -> int:
    """Delete calls that ended before ``older_than`` (epoch seconds), with
    their outbox rows and delivery attempts, in transactions of ``chunk``
    calls. A call with an event still due for delivery is kept. Returns the
    number of calls deleted."""
    due = (OutboxEvent.select(OutboxEvent.id)
           .where(OutboxEvent.callid == Call.callid, OutboxEvent.status.in_(OUTBOX_DUE)))
    candidates = (Call.select(Call.callid)
                  .where(Call.state == ENDED, Call.ended_at > 0, Call.ended_at < older_than,
                         ~peewee.fn.EXISTS(due))
                  .limit(chunk))
    deleted = 0
    with connected(db):
        while True:
            with write_transaction(db):
                callids = [row[0] for row in candidates.tuples().execute(db)]
                if not callids:
                    break
                # delivery_attempts go with their outbox rows (ON DELETE CASCADE)
                OutboxEvent.delete().where(OutboxEvent.callid.in_(callids)).execute(db)
                Call.delete().where(Call.callid.in_(callids)).execute(db)
            deleted += len(callids)
    if deleted:
        log.info("retention: deleted %d calls that ended before %.0f", deleted, older_than)
    return deleted
