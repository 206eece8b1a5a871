"""A reload, as the delivery engine takes it: new ``[delivery]`` settings and
new customers, applied while it runs, without stopping a delivery.

* Every ``[delivery]`` key takes effect at once for what is sent from then on:
  worker count and per-endpoint concurrency (requests in flight keep their
  slot), timeouts, retry age, retention, poll interval, endpoint health policy,
  User-Agent. Requests already in flight finish as they were sent.
* New customers: the planner builds each request when a row is picked, so a
  row whose customer's URL changed goes to the new URL at its next attempt;
  the retrying rows of a customer added or changed are due at once (an admin
  who fixes a URL wants the backlog sent now, not at each row's next retry).
  Endpoints a customer no longer uses are forgotten by the health tracker (a
  down endpoint that was replaced must not hold the customer's rows back).
* Rows of a removed customer are never skipped nor lost: rows not yet tried
  are stamped with the customer that owned them, and the planner keeps every
  row stamped with an unknown customer retrying (``webhooks.CustomerRemoved``),
  sent if the customer is configured again, dead after ``max_age``.
"""

from __future__ import annotations

import dataclasses
import logging

from storage.models import OUTBOX_DUE, RETRYING, OutboxEvent

from ..settings.customers import CustomerDirectory
from .health import HealthPolicy
from .sender import HttpSender
from .store import stamp_customers
from .webhooks import endpoint_of

log = logging.getLogger(__name__)


def apply_delivery_settings(engine, d) -> None:
    """``d``: a config.DeliverySettings; ``engine``: a DeliveryEngine, running or not."""
    engine.per_endpoint = engine.gate.per_endpoint = d.per_endpoint_concurrency
    engine.sessions.per_endpoint = d.per_endpoint_concurrency  # for connections opened from now on
    _resize(engine, d.workers)
    if isinstance(engine.sender, HttpSender):
        engine.sender.set_timeouts(d.connect_timeout, d.read_timeout)
    engine.schedule = dataclasses.replace(engine.schedule, max_age=d.max_age)
    engine.dead_retention, engine.poll_interval = d.dead_retention, d.poll_interval
    engine.health.policy = HealthPolicy(d.failure_threshold, d.probe_interval, d.probe_max_interval)
    engine.sessions.set_user_agent(d.user_agent)
    engine.wake()  # a shorter poll interval or more workers count from now


def _resize(engine, workers: int) -> None:
    """The worker pool's new size: more workers start at once, and a smaller
    pool lets the workers in flight finish (``worker_pool.WorkerPool``)."""
    engine.workers = workers
    if engine._pool is not None:  # else start() makes a pool of the new size
        engine._pool.resize(workers)


def endpoints_of_customer(customer) -> frozenset[str]:
    """Every scheme://host:port a customer's webhooks go to."""
    return frozenset(endpoint_of(url) for endpoint in customer.events.values() for url in endpoint.urls)


def apply_customers(engine, old: CustomerDirectory, new: CustomerDirectory, renewed: list[str]) -> int:
    """After ``new`` replaced ``old``'s customers: forget endpoints no longer
    used; the retrying rows of ``renewed`` customers (added or changed) are
    due now, at their new settings; the untried rows of removed customers stay
    theirs. Returns how many rows were stamped with a removed customer."""
    for customer in old.customers:
        kept = new.get(customer.code)
        engine.health.forget(customer.code, endpoints_of_customer(kept) if kept else frozenset())
    run = engine._db if engine._threads is not None else (lambda fn, *args: fn(*args))
    if renewed:
        released = run(_due_now, engine.db, renewed, tuple(engine._in_flight))
        log.info("%d retrying deliveries of %s due now, at the new settings", released, ", ".join(renewed))
    removed = {c.code for c in old.customers} - {c.code for c in new.customers}
    if not removed:
        engine.wake()
        return 0
    stamps = run(_owners_of_untried, engine.db, old, new, removed)
    if stamps:
        run(stamp_customers, engine.db, stamps)
        for row_id, code in stamps.items():  # rows already read keep the stamp too
            if row_id in engine._ready:
                engine._ready[row_id][0].customer = code
    engine.wake()
    return len(stamps)


def _due_now(db, customers: list[str], in_flight: tuple[int, ...]) -> int:
    """Retrying rows of ``customers`` (none in flight: their outcome is still to
    be written) are due now."""
    db.connect(reuse_if_open=True)
    with db.atomic():
        query = OutboxEvent.update(next_attempt_at=OutboxEvent.created_at).where(
            OutboxEvent.customer.in_(customers), OutboxEvent.status == RETRYING)
        if in_flight:
            query = query.where(OutboxEvent.id.not_in(in_flight))
        return query.execute(db)


def _owners_of_untried(db, old: CustomerDirectory, new: CustomerDirectory, removed: set[str]) -> dict[int, str]:
    """Rows not planned yet whose extension belonged to a removed customer and
    now belongs to nobody: row id -> that customer."""
    db.connect(reuse_if_open=True)
    query = (OutboxEvent.select(OutboxEvent.id, OutboxEvent.extension, OutboxEvent.domain)
             .where(OutboxEvent.status.in_(OUTBOX_DUE), OutboxEvent.customer == ""))
    stamps = {}
    for row in query.execute(db):
        owner = old.owner(row.extension, row.domain)
        if owner is not None and owner.code in removed and new.owner(row.extension, row.domain) is None:
            stamps[row.id] = owner.code
    return stamps
