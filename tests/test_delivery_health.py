"""The endpoint health state machine, with a fake clock: when an endpoint is
down, when it is probed, how the probe wait grows, what routes where."""

from esl_connector.delivery.health import (
    FAILING,
    HEALTHY,
    PROBING,
    EndpointHealth,
    HealthPolicy,
)
from esl_connector.delivery.types import AttemptResult, DeliveryPlan, Outcome, WebhookRequest
from esl_connector.settings.customers import FAILOVER, PARALLEL, SINGLE

from delivery_fixtures import FakeClock

A, B = "http://crm-a:80", "http://crm-b:80"


def plan(*endpoints, customer="acme", mode=SINGLE):
    requests = [WebhookRequest("GET", f"{e}/x", f"{e}/x", endpoint=e) for e in endpoints]
    return DeliveryPlan("ev", customer, mode, requests)


def attempt(status):
    return AttemptResult("u", 0.0, 1.0, status, "" if status else "connection error: refused", "")


def outcome(*statuses):
    verdict = "delivered" if 200 in statuses else "retry"
    return Outcome(verdict, [attempt(s) for s in statuses])


def make(threshold=3):
    clock = FakeClock(1000.0)
    return EndpointHealth(HealthPolicy(failure_threshold=threshold, probe_interval=1.0,
                                       probe_max_interval=30.0), clock=clock, wall_clock=clock), clock


def fail(health, p, times, status=None):
    for _ in range(times):
        health.observe(p, outcome(*[status] * len(p.requests)))


def test_consecutive_endpoint_failures_make_it_failing_and_a_success_resets_the_count():
    health, clock = make()
    p = plan(A)
    fail(health, p, 2)
    health.observe(p, outcome(200))
    fail(health, p, 2, 503)
    assert health.state("acme", A).state == HEALTHY
    fail(health, p, 1, 502)
    s = health.state("acme", A)
    assert (s.state, s.consecutive_failures, s.since_wall) == (FAILING, 3, 1000.0)
    assert health.blocked_customers() == ("acme",)


def test_4xx_and_429_are_answers_not_endpoint_failures():
    health, _ = make(threshold=1)
    p = plan(A)
    for status in (400, 404, 408, 429):
        health.observe(p, outcome(status))
    assert health.state("acme", A).state == HEALTHY


def test_a_failing_endpoint_gets_one_probe_when_due_and_nothing_else():
    health, clock = make()
    p = plan(A)
    fail(health, p, 3)
    assert health.route(p) is None and health.next_probe_in() == 1.0
    clock.advance(1.0)
    assert health.next_probe_in() is None and health.blocked_customers() == ()
    assert health.route(p) is p  # this row is the probe
    assert health.state("acme", A).state == PROBING
    assert health.route(p) is None and health.blocked_customers() == ("acme",)  # one at a time


def test_the_probe_wait_grows_with_the_outage_and_is_capped():
    health, clock = make()
    p = plan(A)
    fail(health, p, 3)
    waits = []
    for _ in range(40):
        clock.advance(health.state("acme", A).next_probe_at - clock())
        assert health.route(p) is p
        health.observe(p, outcome(None))
        waits.append(health.next_probe_in())
    assert waits[0] == 1.0 and waits == sorted(waits) and waits[-1] == 30.0
    s = health.state("acme", A)
    assert (s.state, s.probes) == (FAILING, 40)
    # a 30-s outage is probed at most ~6 s apart: caught within seconds of the return
    assert HealthPolicy().probe_wait(30.0) <= 6.0


def test_a_probe_answered_makes_it_healthy_and_reports_the_recovery():
    health, clock = make()
    p = plan(A)
    fail(health, p, 3)
    clock.advance(5)
    health.route(p)
    [recovered] = health.observe(p, outcome(200))
    assert recovered.key == ("acme", A)
    s = health.state("acme", A)
    assert (s.state, s.consecutive_failures, s.since_wall) == (HEALTHY, 0, 1005.0)
    assert health.route(p) is p and health.observe(p, outcome(200)) == []


def test_a_probe_sent_but_cancelled_can_be_sent_again():
    health, clock = make()
    p = plan(A)
    fail(health, p, 3)
    clock.advance(1)
    health.route(p)
    health.cancel_probe(p)
    assert health.state("acme", A).state == FAILING and health.route(p) is p


def test_a_failing_primary_with_a_healthy_backup_sends_to_the_backup_at_once():
    health, clock = make()
    p = plan(A, B, mode=FAILOVER)
    for _ in range(3):  # the primary fails, the backup delivers
        health.observe(p, outcome(None, 200))
    assert health.state("acme", A).state == FAILING
    routed = health.route(p)
    assert [r.endpoint for r in routed.requests] == [B] and routed.mode == SINGLE
    assert health.blocked_customers() == () and not health.held("acme", {B})
    clock.advance(1)  # the primary's probe is due: the plan keeps its order, backup after it
    routed = health.route(p)
    assert [r.endpoint for r in routed.requests] == [A, B] and routed.mode == FAILOVER


def test_parallel_plans_leave_out_only_the_failing_url():
    health, _ = make(threshold=1)
    p = plan(A, B, mode=PARALLEL)
    health.observe(p, outcome(503, 200))
    assert [r.endpoint for r in health.route(p).requests] == [B]


def test_health_is_per_customer():
    health, _ = make()
    fail(health, plan(A, customer="acme"), 3)
    assert health.state("acme", A).state == FAILING
    assert health.state("beta", A).state == HEALTHY
    assert health.route(plan(A, customer="beta")) is not None
    assert health.held("acme", {A}) and not health.held("beta", {A})


def test_the_snapshot_shows_what_the_admin_needs():
    health, clock = make()
    fail(health, plan(A), 4)
    [shown] = health.snapshot()
    assert shown == {"customer": "acme", "endpoint": A, "state": FAILING, "since": 1000.0,
                     "consecutive_failures": 4, "next_probe_in_s": 1.0, "failed_probes": 0,
                     "last_error": "connection error: refused"}
