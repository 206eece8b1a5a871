"""Outbox claims: several connector processes deliver from one database and
none sends a row another one is sending.

Each engine is a delivery *instance* (``delivery.instance``, by default
``host:pid``). Reading a page of due rows claims them in the same transaction
(``claimed_by`` = the instance, ``claim_until`` = now + lease): one UPDATE per
page, never one per row. The read only takes rows nobody holds, whose lease ran
out, or that are already ours; on PostgreSQL it locks them ``FOR UPDATE SKIP
LOCKED`` (two instances reading at once split the rows instead of waiting),
on SQLite the transaction takes the write lock first (``BEGIN IMMEDIATE``), so
two processes on one file read one after the other.

While a row waits for its endpoint or its request is in flight, the engine
renews the lease every third of it, and with it its own row in
``delivery_instances``. While another instance is alive, an engine holds at
most ``hold`` rows (read or in flight) and reads no more until it sends some:
the rows it could not send soon are left for the others instead of waiting
behind its endpoint slots. Alone, it reads a page ahead as it always did. The outcome's write clears the claim, and
only if the row is still ours (``store.apply_transitions``): a process that
lost its lease (stalled longer than the lease, then another took the row) can
neither mark the row twice nor drop the other's claim. A stop releases what
the instance still holds; a killed process's rows wait for their lease to run
out, then any instance takes them (at least once: the request in flight at the
kill may be sent again, with the same event id).

Per-call order needs nothing more: the due query holds a call log back while
an earlier row of its call is still pending or retrying, whoever holds it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Collection

import peewee

from storage.batch import TRANSIENT_ERRORS
from storage.db import connected, write_transaction
from storage.models import OUTBOX_DUE, DeliveryInstance, OutboxEvent
from storage.views import StoredEvent

from .due_rows import DueRows, padded

log = logging.getLogger(__name__)

DEFAULT_LEASE = 30.0
# Renewals (which also note who else is alive) at least this often: a second
# connector started is seen within seconds, not a third of a long lease.
RENEW_AT_LEAST_EVERY = 2.0


def default_instance() -> str:
    """``host:pid``: unique among the processes sharing a database."""
    return f"{socket.gethostname()}:{os.getpid()}"



class Claims:
    """The claims of one delivery instance; every method runs on the engine's
    database thread."""

    def __init__(self, db: peewee.Database, due: DueRows, instance: str = "",
                 lease: float = DEFAULT_LEASE, clock: Callable[[], float] = time.time, hold: int = 64):
        self.db, self.due = db, due
        self.instance = instance or default_instance()
        self.lease, self.clock, self.hold = lease, clock, hold
        self.next_renewal = 0.0
        self.others = 0  # other instances alive at the last renewal
        # Called (on the database thread) when a page came back full or we hold
        # all we may: due rows may be left that another instance could send now.
        self.on_left_over: Callable[[], None] | None = None
        self._claim_sql: dict[int, str] = {}

    def page(self, now: float, status: str, **kwargs) -> list[tuple[StoredEvent, dict]]:
        """``DueRows.page`` (same arguments), each row returned claimed by us.
        Others alive: no more than ``hold`` rows with those held (``exclude_ids``)."""
        if self.others:
            kwargs["limit"] = min(kwargs.get("limit", 200), self.hold - len(kwargs.get("exclude_ids", ())))
            if kwargs["limit"] <= 0:
                self._left_over()
                return []
        with connected(self.db), write_transaction(self.db):
            page = self.due.page(now, status, claimable_by=self.instance, **kwargs)
            if page:
                ids = padded([event.id for event, _ in page])
                self.db.execute_sql(self._claim_for(len(ids)),
                                    [self.instance, now + self.lease, *ids])
        if len(page) >= kwargs.get("limit", 200):
            self._left_over()
        return page

    def _left_over(self) -> None:
        if self.on_left_over is not None:
            self.on_left_over()

    def renew_in(self) -> float:
        """Seconds until the leases held should be renewed."""
        return max(0.0, self.next_renewal - self.clock())

    def renew(self, ids: Collection[int]) -> set[int]:
        """Extend our lease on ``ids`` (rows read or in flight); the ids still
        ours (a row whose lease ran out and another instance took is not). A
        database error leaves the renewal due: tried again after the next scan."""
        now = self.clock()
        ours = (OutboxEvent.claimed_by == self.instance) & OutboxEvent.id.in_(list(ids))
        kept: set[int] = set()
        with connected(self.db), write_transaction(self.db):
            self.others = self._alive(now)
            if ids:
                OutboxEvent.update(claim_until=now + self.lease).where(ours).execute(self.db)
                kept = {row[0] for row in OutboxEvent.select(OutboxEvent.id).where(ours)
                        .tuples().execute(self.db)}
        self.next_renewal = now + min(self.lease / 3, RENEW_AT_LEAST_EVERY)
        return kept

    def _alive(self, now: float) -> int:
        """Note us alive until now + lease; the number of other instances alive."""
        (DeliveryInstance.insert(instance=self.instance, seen_until=now + self.lease)
         .on_conflict(conflict_target=[DeliveryInstance.instance],
                      update={DeliveryInstance.seen_until: now + self.lease}).execute(self.db))
        return (DeliveryInstance.select().where(DeliveryInstance.seen_until > now,
                                                DeliveryInstance.instance != self.instance)
                .count(self.db))

    def keep(self, run_on_db_thread: Callable, in_flight: Collection[int], ready: dict) -> None:
        """The engine's dispatcher, after each scan: every third of the lease
        (every ``RENEW_AT_LEAST_EVERY`` s at most), renew the rows read (``ready``) or in flight; a read row another
        instance took meanwhile (our lease ran out) leaves ``ready`` unsent."""
        if self.renew_in() > 0:
            return
        kept = run_on_db_thread(self.renew, {*in_flight, *ready})
        lost = [row_id for row_id in ready if row_id not in kept]
        for row_id in lost:
            del ready[row_id]
        if lost:
            log.warning("%d outbox rows read but not sent yet were taken by another connector "
                        "(the lease of %s ran out)", len(lost), self.instance)

    def release_quietly(self) -> None:
        """``release``, logging a database error: the rows are then taken again
        when their lease runs out."""
        try:
            released = self.release()
        except TRANSIENT_ERRORS as exc:
            log.warning("could not release the outbox rows held by %s: %s", self.instance, exc)
            return
        if released:
            log.info("%d outbox rows held by %s released", released, self.instance)

    def release(self) -> int:
        """Give back every due row we hold (a stop): another instance, or this
        one restarted, may take them at once. The number released."""
        with connected(self.db), self.db.atomic():
            DeliveryInstance.delete().where(DeliveryInstance.instance == self.instance).execute(self.db)
            return (OutboxEvent.update(claimed_by="", claim_until=0.0)
                    .where(OutboxEvent.claimed_by == self.instance,
                           OutboxEvent.status.in_(OUTBOX_DUE))
                    .execute(self.db))

    def _claim_for(self, n: int) -> str:
        sql = self._claim_sql.get(n)
        if sql is None:
            p = self.db.param
            sql = self._claim_sql[n] = (
                f'UPDATE "{OutboxEvent._meta.table_name}" SET "claimed_by" = {p}, '
                f'"claim_until" = {p} WHERE "id" IN ({", ".join([p] * n)})')
        return sql


def holders(db: peewee.Database, now: float) -> dict[str, int]:
    """The delivery instances alive, and those holding due rows under a live
    lease: instance -> rows held (0: alive, holding none)."""
    query = (OutboxEvent.select(OutboxEvent.claimed_by, peewee.fn.COUNT(OutboxEvent.id))
             .where(OutboxEvent.status.in_(OUTBOX_DUE), OutboxEvent.claim_until > now)
             .group_by(OutboxEvent.claimed_by))
    alive = DeliveryInstance.select(DeliveryInstance.instance).where(DeliveryInstance.seen_until > now)
    with connected(db):
        return {**{row[0]: 0 for row in alive.tuples().execute(db)}, **dict(query.tuples().execute(db))}
