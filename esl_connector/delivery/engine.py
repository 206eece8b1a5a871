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
  as it was picked and claimed by this process (``claims``: several share a database).
* Endpoint health (``health``): after a few consecutive failures an endpoint
  gets only a probe (a real row) every few seconds; rows failing meanwhile are
  held, not rescheduled; when the probe succeeds the endpoint's retrying rows
  are released (due now, oldest first) and its backlog drains at once.
* Stop: workers finish (every request has a deadline) or are killed; a row
  whose outcome was not written stays due and is sent again after a restart.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable

import gevent
from gevent.event import Event
from gevent.threadpool import ThreadPool

from storage.batch import TRANSIENT_ERRORS, close_connection
from storage.models import PENDING, RETRYING
from storage.views import StoredEvent

from . import admin as delivery_admin
from . import store
from .claims import DEFAULT_LEASE, Claims
from .due_rows import DueRows
from .gate import EndpointGate, endpoints_of
from .health import EndpointHealth, HealthPolicy
from .recorder import OutcomeRecorder
from .retry_schedule import RetrySchedule
from .sender import HttpSender, SessionPool
from .store import Transition, mark_skipped, stamp_customers, transition_for
from .types import DELIVERED, RETRY, DeliveryPlan, EngineStatus, Outcome
from .webhooks import CustomerRemoved
from .worker_pool import WorkerPool

log = logging.getLogger(__name__)

# plan_for(event, call_params) -> DeliveryPlan, or None when no customer owns the event.
Planner = Callable[[StoredEvent, dict], "DeliveryPlan | None"]
PURGE_EVERY_S = 3600.0
READY_MAX = 1000  # rows read and kept for their customer's endpoints to free up


class DeliveryEngine:
    def __init__(self, db, plan_for: Planner, *, workers: int = 32, per_endpoint: int = 4,
                 connect_timeout: float = 5.0, read_timeout: float = 15.0,
                 schedule: RetrySchedule | None = None, dead_retention: float = 30 * 86400.0,
                 poll_interval: float = 1.0, user_agent: str = "", page_size: int = 200,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = gevent.sleep,
                 rng: random.Random | None = None, sender: HttpSender | None = None,
                 health: HealthPolicy | None = None, instance: str = "", claim_lease: float = DEFAULT_LEASE,
                 health_clock: Callable[[], float] = time.monotonic):
        self.db, self.plan_for = db, plan_for
        self.workers, self.per_endpoint = workers, per_endpoint
        self.schedule = schedule or RetrySchedule()
        self.dead_retention, self.poll_interval, self.page_size = dead_retention, poll_interval, page_size
        self.clock, self.sleep, self.rng = clock, sleep, rng or random.Random()
        self.sessions = SessionPool(per_endpoint, user_agent)
        self.sender = sender or HttpSender(self.sessions, connect_timeout, read_timeout, clock=clock)
        self.health = EndpointHealth(health, clock=health_clock, wall_clock=clock)
        self.gate = EndpointGate(per_endpoint, self.health)
        self._wake = Event()
        self._due = DueRows(db)
        self.claims = Claims(db, self._due, instance, claim_lease, clock, hold=2 * workers)
        self._full_scan, self._next_full_scan = True, 0.0  # see _scan
        self._new_rows = False
        self._stopping = False
        self._dispatcher: gevent.Greenlet | None = None
        self._recorder = OutcomeRecorder(db, self._db, self._recorded, self._note_db_error, sleep)
        self._pool: WorkerPool | None = None
        self._threads: ThreadPool | None = None
        self._in_flight: set[int] = set()
        # Rows read but not sent yet (their customer's endpoints were full): kept in
        # id order and offered again before the database is asked for more.
        self._ready: dict[int, tuple[StoredEvent, dict]] = {}
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
                      user_agent=settings.user_agent, instance=settings.instance, claim_lease=settings.claim_lease,
                      health=HealthPolicy(settings.failure_threshold, settings.probe_interval,
                                          settings.probe_max_interval))
        return cls(db, plan_for, **{**kwargs, **overrides})

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> DeliveryEngine:
        if self.running:
            return self
        self._stopping = False
        self._ready.clear()  # read again: the database may have changed while stopped
        self._threads = ThreadPool(1)
        self._pool = WorkerPool(self.workers)
        self._recorder.start(self._died)
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
        self._recorder.close(timeout)  # writes what the workers left, then ends
        try:
            self._threads.apply(self.claims.release_quietly)
            self._threads.apply(close_connection, (self.db,))
        finally:
            self._threads.kill()
            self.sessions.close()
            self._dispatcher = self._pool = self._threads = None

    def stop_picking(self) -> None:
        """Send nothing new from now on (the first step of a graceful stop);
        deliveries in flight go on until ``stop()``."""
        self._stopping = True
        self._wake.set()

    def wake(self, info=None) -> None:
        """Look now. From StorageWriter.on_commit (``info``: its CommitInfo): new
        pending rows. Anything else (a replay, an endpoint back, a test): every
        due row, retries included."""
        if info is None:
            self._full_scan = True
        else:
            self._new_rows = True
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._dispatcher is not None and not self._dispatcher.dead

    def status(self) -> EngineStatus:
        recording = self._recorder.pending
        return EngineStatus(self.running, len(self._in_flight) - recording, recording, self.workers,
                            self.gate.busy_endpoints(), self._counts[DELIVERED],
                            self._counts[RETRY], self._counts["dead"], self._counts["skipped"],
                            self._counts["requests"], self._last_error, self.health.snapshot(),
                            self.claims.instance)

    # -- the dispatcher -------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stopping:
            self._wake.clear()
            try:
                self._scan()
                self.claims.keep(self._db, self._in_flight, self._ready)
                self._purge_if_due()
                failures = 0
            except TRANSIENT_ERRORS as exc:
                failures += 1
                self._note_db_error("reading the outbox", exc, failures)
            probe_in = self.health.next_probe_in()
            wait = self.poll_interval if probe_in is None else min(self.poll_interval, probe_in)
            self._wake.wait(wait if not failures else min(30.0, 2.0 ** failures))

    def _scan(self) -> None:
        """Dispatch due rows until the pool is full or none is left: the rows
        already read first (oldest first), then new (pending) rows, then
        retries in the order they fell due. A scan woken only by outcomes reads
        one page of pending rows: paging on past a saturated customer walks its
        whole backlog (a drain after an outage) and finds nothing new; new rows
        page on; replays, a recovered endpoint and poll_interval page on through
        the retries too."""
        full = self._full_scan or time.monotonic() >= self._next_full_scan
        if full:
            self._full_scan, self._next_full_scan = False, time.monotonic() + self.poll_interval
        page_on, self._new_rows = full or self._new_rows, False
        self._dispatch_page(list(self._ready.values()))
        if not page_on and len(self._ready) >= self.page_size // 2:
            return  # outcomes only, and rows enough in hand: no query (a query that
            # leaves out a busy customer walks its whole backlog to find nothing)
        now = self.clock()
        # Retries fall due with time: looked for every poll_interval (and on an
        # explicit wake), not at every commit or outcome.
        for status in (PENDING, RETRYING) if full else (PENDING,):
            after = None
            while not self._stopping and self._pool.free_count() > 0:
                page = self._db(self.claims.page, now, status, after=after, limit=self.page_size,
                                exclude_customers=self.gate.held_back_customers(),
                                exclude_ids=(*self._in_flight, *self._ready))
                if page:
                    last = page[-1][0]
                    after = last.id if status == PENDING else (last.next_attempt_at, last.id)
                self._ready.update((event.id, (event, params)) for event, params in page)
                self._dispatch_page(page)
                if len(page) < self.page_size or not page_on:
                    break
        while len(self._ready) > READY_MAX:  # the newest are still due in the database
            self._ready.popitem()

    def _dispatch_page(self, page: list[tuple[StoredEvent, dict]]) -> None:
        """Offer each row to the gate; what it takes leaves ``_ready``, what it
        cannot take yet stays there for the next scan."""
        skipped, stamps, expired = [], {}, []
        full: set[str] = set()  # customers that could not take a row in this pass
        for event, call_params in page:
            if event.customer in full:
                continue  # one check per customer and pass, not one per waiting row
            if self._stopping or self._pool.free_count() == 0:
                break
            if self._consider(event, call_params, skipped, stamps, expired):
                self._ready.pop(event.id, None)
            elif event.customer:
                full.add(event.customer)
        if expired:
            self._db(store.mark_expired, self.db, expired, self.clock())
            log.info("%d start events expired instead of being sent late (first: %s)",
                     len(expired), expired[0][2])
        if skipped:
            self._db(mark_skipped, self.db, skipped, self.clock())
            self._counts["skipped"] += len(skipped)
            for event in skipped:
                self._notify(event, "", "skipped", [])
        if stamps:
            self._db(stamp_customers, self.db, stamps)

    def _consider(self, event: StoredEvent, call_params: dict, skipped: list, stamps: dict,
                  expired: list) -> bool:
        """True when the row was taken (sent, skipped, expired); False when its
        customer's endpoints cannot take it now."""
        if event.customer and self.gate.held_back(event.customer):
            return False  # its endpoints filled up or went down: no need to plan it
        try:
            plan = self.plan_for(event, call_params)
        except Exception as exc:  # noqa: BLE001 - a planner bug must not stop delivery
            (log.warning if isinstance(exc, CustomerRemoved) else log.exception)(
                "cannot build the webhook for outbox row %d: %s", event.id, exc)
            failed = Outcome(RETRY, [], f"cannot build the request: {type(exc).__name__}: {exc}")
            self._in_flight.add(event.id)
            self._pool.spawn(self._finish, event, event.customer, failed).link_exception(
                self._worker_died)
            return True
        if plan is None:
            log.info("outbox row %d (%s, call %s) skipped: no customer owns extension %s@%s",
                     event.id, event.event_type, event.callid, event.extension, event.domain)
            skipped.append(event)
            return True
        if reason := store.expiry(event, plan, self.clock()):
            expired.append((event.id, plan.customer, reason))
            return True
        routed = self.gate.admit(plan)  # down endpoints left out (or probed), slots taken
        if routed is None:
            if event.customer != plan.customer:
                stamps[event.id] = event.customer = plan.customer
            return False
        self._in_flight.add(event.id)
        worker = self._pool.spawn(self._deliver, event, routed)
        worker.link_exception(self._worker_died)
        return True

    # -- a worker -------------------------------------------------------------------

    def _deliver(self, event: StoredEvent, plan: DeliveryPlan) -> None:
        try:
            outcome = self.sender.send_plan(plan)
        except Exception as exc:  # noqa: BLE001 - a bug; the row stays retryable
            log.exception("delivering outbox row %d failed", event.id)
            outcome = Outcome(RETRY, [], f"internal error: {type(exc).__name__}")
            self.health.cancel_probe(plan)
        finally:
            self.gate.done(plan)
        self._counts["requests"] += len(outcome.attempts)
        recovered = self.health.observe(plan, outcome)
        held = outcome.verdict == RETRY and self.health.held(plan.customer, endpoints_of(plan))
        self._finish(event, plan.customer, outcome, held)
        if recovered:
            self._release(sorted({s.customer for s in recovered}))

    def _release(self, customers: list[str]) -> None:
        """An endpoint is back: its customers' rows waiting for a retry are due now."""
        try:
            released = self._db(store.release_held, self.db, customers)
        except TRANSIENT_ERRORS as exc:  # they keep their own retry schedule: late, never lost
            self._note_db_error("releasing the rows held for a recovered endpoint", exc, 1)
            return
        log.info("%d retrying rows of %s due at once", released, ", ".join(customers))
        self.wake()

    def _finish(self, event: StoredEvent, customer: str, outcome: Outcome,
                held: bool = False) -> None:
        """Queue the row's new state for the recorder; the row stays in flight
        until it is committed."""
        try:
            t = transition_for(event, customer, outcome, self.clock(), self.schedule, self.rng,
                               held)
        except Exception:
            self._in_flight.discard(event.id)  # stays due: tried again on the next scan
            raise
        t.claimed_by = self.claims.instance
        self._recorder.put(event, t)

    def _recorded(self, event: StoredEvent, t: Transition, written: bool) -> None:
        """After the outcome's commit (the recorder's greenlet)."""
        self._in_flight.discard(event.id)
        self._report(event, t, written)
        self._wake.set()

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
            if t.next_attempt_at <= self.clock():  # held for its endpoint: logged there, once
                log.debug("%s attempt %d failed (%s); held for its endpoint", what, t.attempts,
                          t.last_error)
                return
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
        part = "recorder" if greenlet is self._recorder.greenlet else "dispatcher"
        log.critical("the delivery %s stopped: %r; nothing is sent until a restart",
                     part, greenlet.exception)
        if self.on_died is not None:
            self.on_died(greenlet.exception)
