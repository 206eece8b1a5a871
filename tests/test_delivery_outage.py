"""A CRM that goes away and comes back (real HTTP on port 0, real SQLite):
while it is down it gets only probes, and once a probe is answered its
backlog drains at once, in order per call, each event once. The row clock
(FakeClock) never moves in these tests: a row that waited for its own retry
schedule (5 s, 5 min...) would never be sent, so draining proves none did.
The time from the CRM's return to an empty backlog is printed (-s), not
asserted: real-time figures are in docs/benchmarks.md (bench/bench_outage.py)."""

import time
from collections import Counter

import gevent
import pytest

from esl_connector.delivery.engine import DeliveryEngine
from esl_connector.delivery.health import HealthPolicy
from esl_connector.records import CALL_LOG, INCOMING_CALL, OUTGOING_CALL
from esl_connector.settings.customers import FAILOVER
from storage import queries

from delivery_fixtures import FakeClock, ScriptedCrm, add_events, crm_event, new_db, planner, wait_until

FAST = HealthPolicy(failure_threshold=3, probe_interval=0.05, probe_max_interval=0.2)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def db(backend):
    return new_db(backend.url)


@pytest.fixture
def engines(db, clock):
    made = []

    def make(plan_for, **kwargs):
        kwargs = {"poll_interval": 0.05, "workers": 8, "per_endpoint": 4, "connect_timeout": 0.5,
                  "health": FAST, **kwargs}
        engine = DeliveryEngine(db, plan_for, clock=clock, **kwargs).start()
        made.append(engine)
        return engine
    yield make
    for engine in made:
        engine.stop(timeout=2)


def calls(db, clock, first, count, extension="101", prefix="call"):
    """``count`` calls: a start event and, in the same batch, the call log."""
    events = []
    for n in range(first, first + count):
        kind = OUTGOING_CALL if n % 3 == 0 else INCOMING_CALL
        events += [crm_event(f"{prefix}-{n:04d}", kind, extension),
                   crm_event(f"{prefix}-{n:04d}", CALL_LOG, extension)]
    add_events(db, events, clock())


def statuses(db):
    return Counter({status: n for status, n in queries.outbox_counts(db).items() if n})


def delivered_in_order_once(crms, db, expected_rows):
    """Every row delivered exactly once (one 2xx per event id across ``crms``,
    in the order they served), each call's log after its start event."""
    answered = [a for crm in crms for a in crm.answered]
    ok = Counter(r.headers["X-Event-Id"] for r, status in answered if status == 200)
    ids = [e.event_id for e in queries.list_outbox(db, limit=100000)]
    assert len(ids) == expected_rows and all(ok[i] == 1 for i in ids) and sum(ok.values()) == len(ids)
    seen = [(r.event_type, r.query.get("callid") or r.json()["callid"]) for r, status in answered
            if status == 200]
    logs = {call: i for i, (kind, call) in enumerate(seen) if kind == CALL_LOG}
    for i, (kind, call) in enumerate(seen):
        if kind != CALL_LOG:
            assert i < logs[call], f"the log of {call} went before its start event"


def state_of(engine, customer="acme"):
    states = {e["customer"]: e["state"] for e in engine.status().endpoints}
    return states.get(customer, "unknown")


def drain_time(db, expected_rows, timeout=30.0) -> float:
    back = time.monotonic()
    wait_until(lambda: statuses(db) == {"delivered": expected_rows}, timeout, "the backlog drained")
    return time.monotonic() - back


def test_a_crm_back_after_an_outage_gets_its_backlog_at_once_in_order(db, clock, engines):
    before = ScriptedCrm().start()
    port = before.port
    engine = engines(planner({"101": ("acme", before.url)}))
    calls(db, clock, 0, 10)
    engine.wake()
    wait_until(lambda: statuses(db) == {"delivered": 20}, what="delivered before the outage")
    before.stop()
    for batch in range(6):  # calls keep coming during the outage
        calls(db, clock, 10 + 10 * batch, 10)
        engine.wake()
        gevent.sleep(0.05)
    wait_until(lambda: state_of(engine) in ("failing", "probing"), what="the endpoint seen down")
    attempts_while_down = engine.status().requests - 20
    crm = ScriptedCrm(port=port).start()  # back on the same address
    try:
        took = drain_time(db, 140)
        print(f"\n140 rows (60 calls held during the outage) drained {took:.2f} s after the CRM's return")
        delivered_in_order_once([before, crm], db, 140)
        assert state_of(engine) == "healthy"
        assert attempts_while_down < 120  # not one attempt per row: the first failures, then probes
    finally:
        crm.stop()


def test_a_flapping_crm_gets_everything_once_and_in_order(db, clock, engines):
    down = [False]
    crm = ScriptedCrm(policy=lambda r: (503, {}) if down[0] else None).start()
    engine = engines(planner({"101": ("acme", crm.url)}))

    def flap():
        while True:
            gevent.sleep(0.3)
            down[0] = not down[0]
    flapper = gevent.spawn(flap)
    try:
        for batch in range(20):
            calls(db, clock, 10 * batch, 10)
            engine.wake()
            gevent.sleep(0.1)
        wait_until(lambda: engine.status().retried > 0, what="some failures")
    finally:
        flapper.kill()
        down[0] = False
    try:
        took = drain_time(db, 400)
        print(f"\nflapping CRM: drained {took:.2f} s after it stayed up")
        delivered_in_order_once([crm], db, 400)
    finally:
        crm.stop()


def test_one_customer_down_does_not_delay_the_other(db, clock, engines):
    up, down = ScriptedCrm().start(), ScriptedCrm().start()
    port = down.port
    down.stop()
    engine = engines(planner({"101": ("acme", f"http://127.0.0.1:{port}"), "102": ("beta", up.url)}))
    try:
        for batch in range(5):
            calls(db, clock, 10 * batch, 10, "101", "acme")
            calls(db, clock, 10 * batch, 10, "102", "beta")
            engine.wake()
            gevent.sleep(0.05)
        wait_until(lambda: statuses(db)["delivered"] == 100, what="beta all delivered")
        assert len([s for _, s in up.answered if s == 200]) == 100  # acme's 100 wait
        assert state_of(engine, "acme") in ("failing", "probing") and state_of(engine, "beta") == "healthy"
        back = ScriptedCrm(port=port).start()
        try:
            drain_time(db, 200)
            delivered_in_order_once([up, back], db, 200)
        finally:
            back.stop()
    finally:
        up.stop()


def test_a_failing_primary_with_a_healthy_backup_sends_to_the_backup(db, clock, engines):
    backup, primary = ScriptedCrm().start(), ScriptedCrm().start()
    primary_url = primary.url
    primary.stop()
    engine = engines(planner({"101": ("acme", primary_url)}, mode=FAILOVER, backups=[backup.url]))
    try:
        for batch in range(5):
            calls(db, clock, 10 * batch, 10)
            engine.wake()
            gevent.sleep(0.05)
        wait_until(lambda: statuses(db) == {"delivered": 100}, what="all delivered by the backup")
        delivered_in_order_once([backup], db, 100)
        states = {e["endpoint"]: e["state"] for e in engine.status().endpoints}
        assert states[primary_url] != "healthy" and states[backup.url] == "healthy"
        # the primary is tried by probes only, not once per row
        assert engine.status().requests - 100 < 60
    finally:
        backup.stop()


def test_a_restart_during_the_outage_still_drains_at_once(db, clock, engines):
    crm = ScriptedCrm().start()
    port = crm.port
    crm.stop()
    first = engines(planner({"101": ("acme", f"http://127.0.0.1:{port}")}))
    calls(db, clock, 0, 30)
    first.wake()
    wait_until(lambda: state_of(first) in ("failing", "probing") and first.status().in_flight == 0,
               what="the endpoint seen down")
    first.stop(timeout=2)
    second = engines(planner({"101": ("acme", f"http://127.0.0.1:{port}")}))  # knows nothing yet
    calls(db, clock, 30, 10)
    second.wake()
    wait_until(lambda: state_of(second) in ("failing", "probing"), what="the endpoint seen down again")
    # rows that failed before it was seen down were scheduled minutes out
    assert any(e.next_attempt_at > clock() for e in queries.list_outbox(db, status="retrying"))
    crm = ScriptedCrm(port=port).start()
    try:
        drain_time(db, 80)
        delivered_in_order_once([crm], db, 80)
    finally:
        crm.stop()


def test_one_bad_request_among_good_ones_keeps_its_retry_schedule(db, clock, engines):
    crm = ScriptedCrm(policy=lambda r: (500, {}) if r.query.get("callid") == "call-0004" else None).start()
    engine = engines(planner({"101": ("acme", crm.url)}))
    try:
        calls(db, clock, 0, 12)
        engine.wake()
        wait_until(lambda: statuses(db) == {"delivered": 22, "retrying": 1, "pending": 1})
        [bad] = queries.list_outbox(db, status="retrying")
        assert bad.attempts == 1 and 4.0 <= bad.next_attempt_at - clock() <= 6.0
        assert state_of(engine) == "healthy"
    finally:
        crm.stop()


def expiring(plan_for, seconds):
    def plan(event, call_params):
        made = plan_for(event, call_params)
        if made is not None:
            made.expire_after = seconds
        return made
    return plan


def test_start_events_too_old_when_the_crm_returns_expire_and_call_logs_are_still_sent(db, clock, engines):
    crm = ScriptedCrm().start()
    port = crm.port
    crm.stop()
    engine = engines(expiring(planner({"101": ("acme", f"http://127.0.0.1:{port}")}), 120))
    calls(db, clock, 0, 10)
    engine.wake()
    wait_until(lambda: state_of(engine) in ("failing", "probing"), what="the endpoint seen down")
    clock.advance(600)  # ten minutes later: the screen pops are stale, the call logs are not
    calls(db, clock, 10, 2)  # fresh calls are sent
    crm = ScriptedCrm(port=port).start()
    try:
        wait_until(lambda: statuses(db) == {"delivered": 14, "expired": 10}, timeout=30,
                   what="start events expired, the rest delivered")
        expired = queries.list_outbox(db, status="expired")
        assert {e.event_type for e in expired} == {INCOMING_CALL, OUTGOING_CALL}
        assert {e.callid for e in expired} == {f"call-{n:04d}" for n in range(10)}
        assert expired[0].last_error.startswith("expired: 10 min old when it could be sent")
        assert expired[0].finished_at == clock() and expired[0].customer == "acme"
        assert len(crm.of_type(CALL_LOG)) == 12
    finally:
        crm.stop()
