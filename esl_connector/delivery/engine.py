"""The delivery engine: sends the outbox to the CRM, at least once, in order per call.

The outbox is the only source of work. A dispatcher greenlet reads due rows
from the database one page at a time (never the whole backlog), asks the
planner what to send, and hands each row to a bounded pool of worker
greenlets. A worker sends the plan (``sender``) and hands the outcome to the
recorder greenlet, which writes the new states and attempt logs of every
outcome waiting in ONE transaction (``store``) on the engine's database thread:
group commit, so under load a transaction carries many outcomes and the
workers never queue for the database one by one. See docs/delivery.md.

* Ordering: the due query holds a call log back while an earlier event of
  its call is pending or retrying (in flight included).
* Isolation: at most ``per_endpoint`` requests in flight per endpoint; rows of
  a customer whose endpoints are all busy are left in the database (the due
  query excludes them once stamped with their customer), so a slow CRM never
  takes the workers or the dispatcher's time from the others.
* No double sending: a row stays in flight (excluded from the due query) until
  its outcome is committed, and the outcome is written only if the row is still
  as it was picked.
* Stop: workers finish (every request has a deadline) or are killed; a row
  whose outcome was not written stays due and is sent again after a restart.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import gevent
from gevent.event import Event
from gevent.pool import Pool
from gevent.threadpool import ThreadPool

from storage.batch import TRANSIENT_ERRORS, close_connection
from storage.models import PENDING, RETRYING
from storage.queries import due_for_delivery
from storage.views import StoredEvent

from . import admin as delivery_admin
from .retry_schedule import RetrySchedule
from .sender import HttpSender, SessionPool, endpoint_of
from .store import Transition, apply_transitions, mark_skipped, stamp_customers, transition_for
from .types import DELIVERED, RETRY, DeliveryPlan, Outcome

log = logging.getLogger(__name__)

# plan_for(event, call_params) -> DeliveryPlan, or None when no customer owns the event.
Planner = Callable[[StoredEvent, dict], "DeliveryPlan | None"]
PURGE_EVERY_S = 3600.0


@dataclass(slots=True)
class EngineStatus:
    running: bool
    in_flight: int        # requests being sent
    recording: int        # sent, their outcome waiting to be committed
    workers: int
    busy_endpoints: dict[str, int]
    delivered: int
    retried: int
    dead: int
    skipped: int
    requests: int
    last_error: str


class DeliveryEngine:
    def __init__(self, db, plan_for: Planner, *, workers: int = 32, per_endpoint: int = 4,
                 connect_timeout: float = 5.0, read_timeout: float = 15.0,
                 schedule: RetrySchedule | None = None, dead_retention: float = 30 * 86400.0,
                 poll_interval: float = 1.0, user_agent: str = "", page_size: int = 200,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = gevent.sleep,
                 rng: random.Random | None = None, sender: HttpSender | None = None):
        self.db, self.plan_for = db, plan_for
        self.workers, self.per_endpoint = workers, per_endpoint
        self.schedule = schedule or RetrySchedule()
        self.dead_retention, self.poll_interval, self.page_size = dead_retention, poll_interval, page_size
        self.clock, self.sleep, self.rng = clock, sleep, rng or random.Random()
        self.sessions = SessionPool(per_endpoint, user_agent)
        self.sender = sender or HttpSender(self.sessions, connect_timeout, read_timeout, clock=clock)
        self._wake = Event()
        self._stopping = False
        self._dispatcher: gevent.Greenlet | None = None
        self._recorder: gevent.Greenlet | None = None
        self._outcomes: list[tuple[StoredEvent, Transition]] = []  # waiting to be written
        self._outcome_ready = Event()
        self._recording = 0  # outcomes in the transaction being written
        self._closing = False
        self._pool: Pool | None = None
        self._threads: ThreadPool | None = None
        self._in_flight: set[int] = set()
        self._busy: Counter[str] = Counter()  # endpoint -> requests in flight
        self._endpoints: dict[str, frozenset[str]] = {}  # customer -> endpoints of its last plan
        self._counts: Counter[str] = Counter()
        self._last_error = ""
        self._next_purge = 0.0
        # Called with the exception if the dispatcher dies (a bug): nothing
        # would be sent any more, so the app stops the process for a restart.
        self.on_died: Callable[[BaseException | None], None] | None = None
        # on_result(event, customer, new status, attempts): after each outcome is
        # written, and for each skipped row (metrics); it must not block.
        self.on_result: Callable[[StoredEvent, str, str, list], None] | None = None

    @classmethod
    def from_settings(cls, db, plan_for: Planner, settings, **overrides) -> DeliveryEngine:
        """``settings``: a config.DeliverySettings."""
        kwargs = dict(workers=settings.workers, per_endpoint=settings.per_endpoint_concurrency,
                      connect_timeout=settings.connect_timeout, read_timeout=settings.read_timeout,
                      schedule=RetrySchedule(max_age=settings.max_age),
                      dead_retention=settings.dead_retention, poll_interval=settings.poll_interval,
                      user_agent=settings.user_agent)
        return cls(db, plan_for, **{**kwargs, **overrides})

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> DeliveryEngine:
        if self.running:
            return self
        self._stopping = self._closing = False
        self._threads = ThreadPool(1)
        self._pool = Pool(self.workers)
        self._recorder = gevent.spawn(self._record_outcomes)
        self._recorder.link_exception(self._died)
        self._dispatcher = gevent.spawn(self._run)
        self._dispatcher.link_exception(self._died)
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop picking rows; let in-flight deliveries finish (each request has
        a deadline) for up to ``timeout`` seconds, then kill what is left:
        those rows stay due and are sent again after a restart."""
        if self._dispatcher is None:
            return
        self.stop_picking()
        timeout = self.sender.deadline + 5.0 if timeout is None else timeout
        self._dispatcher.join(timeout=min(timeout, 5.0))
        self._dispatcher.kill(block=True, timeout=1.0)
        if not self._pool.join(timeout=timeout):
            log.warning("stopping with %d deliveries still in flight: they will be sent "
                        "again after the restart", len(self._in_flight))
            self._pool.kill(block=True, timeout=1.0)
        self._closing = True  # the recorder writes what the workers left, then ends
        self._outcome_ready.set()
        self._recorder.join(timeout=timeout)
        self._recorder.kill(block=True, timeout=1.0)
        try:
            self._threads.apply(close_connection, (self.db,))
        finally:
            self._threads.kill()
            self.sessions.close()
            self._dispatcher = self._pool = self._threads = self._recorder = None

    def stop_picking(self) -> None:
        """Send nothing new from now on (the first step of a graceful stop);
        deliveries in flight go on until ``stop()``."""
        self._stopping = True
        self._wake.set()

    def wake(self, _info=None) -> None:
        """New rows were committed (StorageWriter.on_commit) or replayed: look now."""
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._dispatcher is not None and not self._dispatcher.dead

    def status(self) -> EngineStatus:
        recording = len(self._outcomes) + self._recording
        return EngineStatus(self.running, len(self._in_flight) - recording, recording, self.workers,
                            {e: n for e, n in self._busy.items() if n}, self._counts[DELIVERED],
                            self._counts[RETRY], self._counts["dead"], self._counts["skipped"],
                            self._counts["requests"], self._last_error)

    # -- the dispatcher -------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stopping:
            self._wake.clear()
            try:
                self._scan()
                self._purge_if_due()
                failures = 0
            except TRANSIENT_ERRORS as exc:
                failures += 1
                self._note_db_error("reading the outbox", exc, failures)
            self._wake.wait(self.poll_interval if not failures else min(30.0, 2.0 ** failures))

    def _scan(self) -> None:
        """Dispatch due rows until the pool is full or none is left: new
        (pending) rows oldest first, then retries in the order they fell due."""
        now = self.clock()
        for status in (PENDING, RETRYING):
            after = None
            while not self._stopping and self._pool.free_count() > 0:
                # Read about what the free workers can take, not a whole page: most
                # wakes free one worker, and rows read but not sent are wasted work.
                limit = min(self.page_size, 2 * self._pool.free_count() + 8)
                page = self._db(due_for_delivery, self.db, now, status, after=after, limit=limit,
                                exclude_customers=self._saturated_customers(),
                                exclude_ids=tuple(self._in_flight))
                if page:
                    last = page[-1][0]
                    after = last.id if status == PENDING else (last.next_attempt_at, last.id)
                self._dispatch_page(page)
                if len(page) < limit:
                    break

    def _dispatch_page(self, page: list[tuple[StoredEvent, dict]]) -> None:
        skipped, stamps = [], {}
        for event, call_params in page:
            if self._stopping or self._pool.free_count() == 0:
                break
            self._consider(event, call_params, skipped, stamps)
        if skipped:
            self._db(mark_skipped, self.db, skipped, self.clock())
            self._counts["skipped"] += len(skipped)
            for event in skipped:
                self._notify(event, "", "skipped", [])
        if stamps:
            self._db(stamp_customers, self.db, stamps)

    def _consider(self, event: StoredEvent, call_params: dict, skipped: list, stamps: dict) -> None:
        if event.customer and self._customer_saturated(event.customer):
            return  # its endpoints filled up during this page: no need to plan it
        try:
            plan = self.plan_for(event, call_params)
        except Exception as exc:  # noqa: BLE001 - a planner bug must not stop delivery
            log.exception("cannot build the webhook for outbox row %d", event.id)
            failed = Outcome(RETRY, [], f"cannot build the request: {type(exc).__name__}: {exc}")
            self._in_flight.add(event.id)
            self._pool.spawn(self._finish, event, event.customer, failed).link_exception(
                self._worker_died)
            return
        if plan is None:
            log.info("outbox row %d (%s, call %s) skipped: no customer owns extension %s@%s",
                     event.id, event.event_type, event.callid, event.extension, event.domain)
            skipped.append(event)
            return
        endpoints = frozenset(endpoint_of(r) for r in plan.requests)
        self._endpoints[plan.customer] = endpoints
        if any(self._busy[e] >= self.per_endpoint for e in endpoints):
            if event.customer != plan.customer:
                stamps[event.id] = plan.customer
            return
        for endpoint in endpoints:
            self._busy[endpoint] += 1
        self._in_flight.add(event.id)
        worker = self._pool.spawn(self._deliver, event, plan, endpoints)
        worker.link_exception(self._worker_died)

    def _saturated_customers(self) -> tuple[str, ...]:
        return tuple(c for c in self._endpoints if self._customer_saturated(c))

    def _customer_saturated(self, customer: str) -> bool:
        return any(self._busy[e] >= self.per_endpoint for e in self._endpoints.get(customer, ()))

    # -- a worker -------------------------------------------------------------------

    def _deliver(self, event: StoredEvent, plan: DeliveryPlan, endpoints: frozenset[str]) -> None:
        try:
            outcome = self.sender.send_plan(plan)
        except Exception as exc:  # noqa: BLE001 - a bug; the row stays retryable
            log.exception("delivering outbox row %d failed", event.id)
            outcome = Outcome(RETRY, [], f"internal error: {type(exc).__name__}")
        finally:
            for endpoint in endpoints:
                self._busy[endpoint] -= 1
        self._counts["requests"] += len(outcome.attempts)
        self._finish(event, plan.customer, outcome)

    def _finish(self, event: StoredEvent, customer: str, outcome: Outcome) -> None:
        """Queue the row's new state for the recorder; the row stays in flight
        until it is committed."""
        try:
            t = transition_for(event, customer, outcome, self.clock(), self.schedule, self.rng)
        except Exception:
            self._in_flight.discard(event.id)  # stays due: tried again on the next scan
            raise
        self._outcomes.append((event, t))
        self._outcome_ready.set()

    # -- the recorder -----------------------------------------------------------------

    def _record_outcomes(self) -> None:
        """Group commit of outcomes: everything queued goes into one transaction;
        what arrives meanwhile goes into the next."""
        while not (self._closing and not self._outcomes):
            if not self._outcomes:
                self._outcome_ready.wait()
                self._outcome_ready.clear()
                continue
            batch, self._outcomes = self._outcomes, []
            self._recording = len(batch)
            try:
                self._record(batch)
            finally:
                self._recording = 0
                self._wake.set()

    def _record(self, batch: list[tuple[StoredEvent, Transition]]) -> None:
        try:
            written = self._write([t for _, t in batch])
        except Exception:  # noqa: BLE001 - some outcome cannot be written: find which
            if len(batch) == 1:
                self._hold_back(*batch[0])
                return
            for item in batch:
                self._record([item])
            return
        for (event, t), ok in zip(batch, written):
            self._in_flight.discard(event.id)
            self._report(event, t, ok)

    def _hold_back(self, event: StoredEvent, t: Transition) -> None:
        """Not the database being away (that is retried) but this outcome being
        unwritable: released, the row would be sent again at once, and again.
        It stays "in flight" (never picked) until a restart sends it once more."""
        log.critical("outbox row %d (%s, call %s): its outcome cannot be recorded; it is held back "
                     "until the connector restarts", event.id, event.event_type, event.callid,
                     exc_info=True)

    def _write(self, transitions: list[Transition]) -> list[bool]:
        """Write until it works: a delivered row left due would be sent again."""
        failures = 0
        while True:
            try:
                return self._db(apply_transitions, self.db, transitions)
            except TRANSIENT_ERRORS as exc:
                failures += 1
                self._note_db_error(f"recording the outcome of {len(transitions)} deliveries",
                                    exc, failures)
                self.sleep(min(30.0, 0.25 * 2 ** failures))

    def _report(self, event: StoredEvent, t: Transition, written: bool) -> None:
        what = f"outbox row {event.id} ({event.event_type}, call {event.callid})"
        self._notify(event, t.customer, t.status if written else "changed", t.log)
        if not written:
            log.warning("%s changed while it was being delivered; its new state was kept", what)
        elif t.status == DELIVERED:
            self._counts[DELIVERED] += 1
            log.debug("%s delivered", what)
        elif t.status == "dead":
            self._counts["dead"] += 1
            self._last_error = t.last_error
            log.error("%s is a dead letter: %s", what, t.last_error)
        else:
            self._counts[RETRY] += 1
            self._last_error = t.last_error
            log.info("%s attempt %d failed (%s); next attempt in %.0f s", what, t.attempts,
                     t.last_error, t.next_attempt_at - self.clock())

    # -- helpers ----------------------------------------------------------------------

    def _purge_if_due(self) -> None:
        now = self.clock()
        if self.dead_retention <= 0 or now < self._next_purge:
            return
        self._next_purge = now + PURGE_EVERY_S
        self._db(delivery_admin.purge_finished, self.db, now - self.dead_retention)

    def _notify(self, event: StoredEvent, customer: str, status: str, attempts: list) -> None:
        if self.on_result is None:
            return
        try:
            self.on_result(event, customer, status, attempts)
        except Exception:  # metrics must never stop a delivery
            log.exception("on_result failed for outbox row %d", event.id)

    def _db(self, fn, *args, **kwargs):
        return self._threads.apply(fn, args, kwargs)

    def _note_db_error(self, doing: str, exc: Exception, failures: int) -> None:
        self._last_error = f"database error while {doing}: {exc}"
        (log.error if failures == 1 else log.debug)("%s; retrying", self._last_error)

    def _worker_died(self, greenlet: gevent.Greenlet) -> None:
        log.error("a delivery worker failed: %r", greenlet.exception)

    def _died(self, greenlet: gevent.Greenlet) -> None:
        part = "recorder" if greenlet is self._recorder else "dispatcher"
        log.critical("the delivery %s stopped: %r; nothing is sent until a restart",
                     part, greenlet.exception)
        if self.on_died is not None:
            self.on_died(greenlet.exception)
