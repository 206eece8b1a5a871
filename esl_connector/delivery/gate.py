"""Which plan may be sent now: endpoint concurrency and endpoint health.

The dispatcher asks ``admit(plan)`` for every row it considers: the plan
comes back restricted to the endpoints that may take a request now (a down
endpoint is left out, or gets this row as its probe), with a slot taken on
each of its endpoints; or None, and the row stays in the database. A worker
gives the slots back with ``done(plan)``. ``held_back_customers`` is what the
due query leaves out: customers whose endpoints are all full, or down with no
probe due, so their backlog costs the dispatcher nothing.

Pure bookkeeping (no I/O), used by the engine's greenlets only.
"""

from __future__ import annotations

from collections import Counter

from .health import EndpointHealth
from .sender import endpoint_of
from .types import DeliveryPlan


def endpoints_of(plan: DeliveryPlan) -> frozenset[str]:
    return frozenset(endpoint_of(r) for r in plan.requests)


class EndpointGate:
    def __init__(self, per_endpoint: int, health: EndpointHealth):
        self.per_endpoint, self.health = per_endpoint, health
        self.busy: Counter[str] = Counter()  # endpoint -> requests in flight
        self._endpoints: dict[str, frozenset[str]] = {}  # customer -> endpoints of its last plan

    def admit(self, plan: DeliveryPlan) -> DeliveryPlan | None:
        self._endpoints[plan.customer] = endpoints_of(plan)
        routed = self.health.route(plan)
        if routed is None:
            return None
        endpoints = endpoints_of(routed)
        if any(self.busy[e] >= self.per_endpoint for e in endpoints):
            self.health.cancel_probe(routed)
            return None
        for endpoint in endpoints:
            self.busy[endpoint] += 1
        return routed

    def done(self, plan: DeliveryPlan) -> None:
        for endpoint in endpoints_of(plan):
            self.busy[endpoint] -= 1

    def saturated(self, customer: str) -> bool:
        return any(self.busy[e] >= self.per_endpoint for e in self._endpoints.get(customer, ()))

    def held_back(self, customer: str) -> bool:
        return self.saturated(customer) or customer in self.health.blocked_customers()

    def held_back_customers(self) -> tuple[str, ...]:
        saturated = {c for c in self._endpoints if self.saturated(c)}
        return tuple(saturated.union(self.health.blocked_customers()))

    def busy_endpoints(self) -> dict[str, int]:
        return {e: n for e, n in self.busy.items() if n}
