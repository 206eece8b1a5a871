"""Endpoint health: a circuit breaker per (customer, endpoint).

The retry schedule is right for one bad request; it is the wrong tool for a
CRM that is down and comes back. So the engine also tracks each endpoint
(``scheme://host:port``) of each customer:

* **healthy**: rows are sent as usual. ``failure_threshold`` consecutive
  endpoint failures (connection error, timeout, 5xx) make it failing.
* **failing**: nothing is sent to it but a probe: one real due row, once the
  probe wait has passed. The wait grows with the outage (a fifth of the time
  since it went down) from ``probe_interval`` up to ``probe_max_interval``,
  so a 30-s blip is seen within seconds and a long outage costs one request
  every 30 s. A row that fails meanwhile is *held*: due again as soon as the
  endpoint recovers, not pushed out by its own retry schedule.
* **probing**: the probe is in flight. Any answer that is not a 5xx (2xx,
  4xx...) means the endpoint is up again: healthy, and its backlog drains at
  once (``EndpointHealth.observe`` returns it as recovered). A failed probe
  makes it failing again.

Pure bookkeeping: no I/O, no greenlets; ``clock`` is monotonic time (the
tests pass a fake one). The engine asks ``route`` before sending a plan and
tells ``observe`` what came back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from ..settings.customers import SINGLE
from .sender import endpoint_of
from .types import AttemptResult, DeliveryPlan, Outcome

log = logging.getLogger(__name__)

HEALTHY = "healthy"
FAILING = "failing"
PROBING = "probing"
Key = tuple[str, str]  # (customer, endpoint)


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    failure_threshold: int = 5      # consecutive endpoint failures before it is failing
    probe_interval: float = 1.0     # first wait before a probe, seconds
    probe_max_interval: float = 30.0
    probe_growth: float = 0.2       # the wait is this fraction of the outage so far

    def probe_wait(self, down_for: float) -> float:
        return min(self.probe_max_interval, max(self.probe_interval, self.probe_growth * down_for))


@dataclass(slots=True)
class EndpointState:
    customer: str
    endpoint: str
    state: str = HEALTHY
    since: float = 0.0              # monotonic: when it entered this state (failing: went down)
    since_wall: float = 0.0         # the same, epoch seconds (shown to the admin)
    consecutive_failures: int = 0
    next_probe_at: float = 0.0      # monotonic
    probes: int = 0                 # failed probes in this outage
    last_error: str = ""

    @property
    def key(self) -> Key:
        return (self.customer, self.endpoint)


def is_endpoint_failure(attempt: AttemptResult) -> bool:
    """No response at all, or a 5xx: the endpoint, not the request, is at fault."""
    return attempt.status_code is None or 500 <= attempt.status_code < 600


class EndpointHealth:
    def __init__(self, policy: HealthPolicy | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time):
        self.policy = policy or HealthPolicy()
        self.clock, self.wall_clock = clock, wall_clock
        self._states: dict[Key, EndpointState] = {}
        self._by_customer: dict[str, set[str]] = {}  # customer -> every endpoint seen

    def state(self, customer: str, endpoint: str) -> EndpointState:
        key = (customer, endpoint)
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = EndpointState(customer, endpoint, since=self.clock(),
                                                      since_wall=self.wall_clock())
            self._by_customer.setdefault(customer, set()).add(endpoint)
        return state

    # -- before sending ---------------------------------------------------------------

    def usable(self, customer: str, endpoint: str) -> bool:
        """Healthy, or failing with a probe due (the caller then sends the probe)."""
        s = self.state(customer, endpoint)
        return s.state == HEALTHY or (s.state == FAILING and self.clock() >= s.next_probe_at)

    def route(self, plan: DeliveryPlan) -> DeliveryPlan | None:
        """The plan restricted to the endpoints that may be sent to now (in
        order: a failover plan keeps its order), or None when none may. A
        failing endpoint included is the probe: it becomes probing."""
        keep = [r for r in plan.requests if self.usable(plan.customer, endpoint_of(r))]
        if not keep:
            return None
        for request in keep:
            s = self.state(plan.customer, endpoint_of(request))
            if s.state == FAILING:
                s.state = PROBING
                log.debug("probing %s for customer %s", s.endpoint, s.customer)
        if len(keep) == len(plan.requests):
            return plan
        return replace(plan, requests=keep, mode=plan.mode if len(keep) > 1 else SINGLE)

    def held(self, customer: str, endpoints) -> bool:
        """True when every one of ``endpoints`` is down: a row that failed
        there waits for the endpoint, not for its own retry schedule."""
        states = [self.state(customer, e).state for e in endpoints]
        return bool(states) and all(s != HEALTHY for s in states)

    def blocked_customers(self) -> tuple[str, ...]:
        """Customers none of whose endpoints may take a request now (the due
        query leaves their rows in the database)."""
        return tuple(c for c, endpoints in self._by_customer.items()
                     if not any(self.usable(c, e) for e in endpoints))

    def next_probe_in(self) -> float | None:
        """Seconds until the next probe falls due (None: none will). A probe
        already due is not counted: the dispatcher's scan has just looked for
        its row (a failing endpoint without any due row must not spin it)."""
        now = self.clock()
        waits = [s.next_probe_at - now for s in self._states.values()
                 if s.state == FAILING and s.next_probe_at > now]
        return min(waits) if waits else None

    # -- after sending ----------------------------------------------------------------

    def observe(self, plan: DeliveryPlan, outcome: Outcome) -> list[EndpointState]:
        """Count each attempt against its endpoint; the endpoints that
        recovered (the engine then releases their held rows)."""
        recovered = []
        for request, attempt in zip(plan.requests, outcome.attempts):
            s = self.state(plan.customer, endpoint_of(request))
            if is_endpoint_failure(attempt):
                self._failed(s, attempt.error or f"HTTP {attempt.status_code}")
            elif self._succeeded(s):
                recovered.append(s)
        return recovered

    def cancel_probe(self, plan: DeliveryPlan) -> None:
        """A routed plan was not sent after all (a bug, a stop): probe again."""
        for request in plan.requests:
            s = self.state(plan.customer, endpoint_of(request))
            if s.state == PROBING:
                s.state = FAILING

    def _failed(self, s: EndpointState, error: str) -> None:
        now = self.clock()
        s.consecutive_failures += 1
        s.last_error = error
        if s.state == HEALTHY and s.consecutive_failures >= self.policy.failure_threshold:
            s.state, s.since, s.since_wall, s.probes = FAILING, now, self.wall_clock(), 0
            s.next_probe_at = now + self.policy.probe_wait(0.0)
            log.warning("endpoint %s of customer %s is down after %d consecutive failures "
                        "(%s): sending only a probe until it answers", s.endpoint, s.customer,
                        s.consecutive_failures, error)
        elif s.state != HEALTHY:
            if s.state == PROBING:
                s.probes += 1
            s.state = FAILING
            s.next_probe_at = now + self.policy.probe_wait(now - s.since)

    def _succeeded(self, s: EndpointState) -> bool:
        was_down = s.state != HEALTHY
        if was_down:
            now = self.clock()
            log.warning("endpoint %s of customer %s is back after %.0f s (%d failed probes): "
                        "draining its backlog", s.endpoint, s.customer, now - s.since, s.probes)
            s.state, s.since, s.since_wall = HEALTHY, now, self.wall_clock()
        s.consecutive_failures, s.probes = 0, 0
        return was_down

    def forget(self, customer: str, keep: frozenset[str] = frozenset()) -> None:
        """A reload left ``customer`` with other endpoints (or none): drop the
        state of those it no longer uses, so that an endpoint that was down
        and is no longer configured holds none of its rows back."""
        for endpoint in self._by_customer.get(customer, set()) - keep:
            self._states.pop((customer, endpoint), None)
            self._by_customer[customer].discard(endpoint)
        if not self._by_customer.get(customer, True):
            del self._by_customer[customer]

    # -- for the admin ----------------------------------------------------------------

    def snapshot(self) -> list[dict]:
        """Every endpoint seen, for the status API: state, since (epoch),
        consecutive failures, seconds until the next probe, last error."""
        now = self.clock()
        return [{"customer": s.customer, "endpoint": s.endpoint, "state": s.state,
                 "since": round(s.since_wall, 3), "consecutive_failures": s.consecutive_failures,
                 "next_probe_in_s": (round(max(0.0, s.next_probe_at - now), 3)
                                     if s.state == FAILING else None),
                 "failed_probes": s.probes, "last_error": s.last_error}
                for s in sorted(self._states.values(), key=lambda s: s.key)]
