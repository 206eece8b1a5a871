"""Outbox claims, on both backends: two delivery instances never hold the same
row, a lease that ran out can be taken, a stale outcome is refused, and two
engines sharing one database send every webhook once, in order per call."""

import threading
import time

import gevent
import pytest
from gevent.threadpool import ThreadPool

from esl_connector.delivery.claims import Claims, holders
from esl_connector.delivery.due_rows import DueRows
from esl_connector.delivery.engine import DeliveryEngine
from esl_connector.delivery.retry_schedule import RetrySchedule
from esl_connector.delivery.store import apply_transition, transition_for
from esl_connector.delivery.types import DELIVERED, Outcome
from esl_connector.records import CALL_LOG, INCOMING_CALL
from esl_connector.settings.config import ConfigError, settings_from_dict
from storage.batch import TRANSIENT_ERRORS
from storage.db import open_database
from storage.migrations import MIGRATIONS, latest_version, migrate
from storage.models import OutboxEvent

from delivery_fixtures import ScriptedCrm, add_events, crm_event, new_db, planner, wait_until

NOW = time.time()


def claims_of(url, instance, lease=10.0, clock=lambda: NOW):
    db = new_db(url)
    return Claims(db, DueRows(db), instance, lease, clock)


def new_db_at(url, version):
    db = open_database(url)
    migrate(db, MIGRATIONS[:version])
    return db


def claim_state(db):
    db.connect(reuse_if_open=True)
    rows = OutboxEvent.select(OutboxEvent.id, OutboxEvent.claimed_by, OutboxEvent.status).order_by(OutboxEvent.id).tuples()
    return {row_id: (holder, status) for row_id, holder, status in rows.execute(db)}


def take_all(claims, now, start, limit=7):
    """Claim pages until none is left for this instance (a page that meets a
    locked database is read again, as the engine's next scan does)."""
    taken = []
    start.wait(10)
    while True:
        time.sleep(0.001)  # a real thread: the other claims meanwhile
        try:
            page = claims.page(now, "pending", limit=limit, exclude_ids=taken)
        except TRANSIENT_ERRORS:
            continue
        if not page:
            return taken
        taken += [event.id for event, _ in page]


def test_two_instances_claiming_at_once_never_get_the_same_row(backend):
    db = new_db(backend.url)
    add_events(db, [crm_event(f"c{n}", INCOMING_CALL) for n in range(300)], NOW - 10)
    a, b = claims_of(backend.url, "host-a:1"), claims_of(backend.url, "host-b:2")
    threads, start = ThreadPool(2), threading.Barrier(2)  # real threads, each on its own connection
    try:
        got_a, got_b = threads.spawn(take_all, a, NOW, start), threads.spawn(take_all, b, NOW, start)
        ids_a, ids_b = got_a.get(timeout=60), got_b.get(timeout=60)
    finally:
        threads.kill()
    assert ids_a and ids_b and not set(ids_a) & set(ids_b)
    assert sorted(ids_a + ids_b) == list(range(1, 301))
    state = claim_state(db)
    assert {state[i][0] for i in ids_a} == {"host-a:1"} and {state[i][0] for i in ids_b} == {"host-b:2"}
    assert holders(db, NOW) == {"host-a:1": len(ids_a), "host-b:2": len(ids_b)}


def test_a_lease_that_ran_out_can_be_taken_and_a_live_one_cannot(backend):
    db = new_db(backend.url)
    add_events(db, [crm_event(f"c{n}", INCOMING_CALL) for n in range(3)], NOW - 10)
    a, b = claims_of(backend.url, "a", lease=10.0), claims_of(backend.url, "b", lease=10.0)
    assert [e.id for e, _ in a.page(NOW, "pending")] == [1, 2, 3]
    assert b.page(NOW + 9.9, "pending") == []
    assert [e.id for e, _ in a.page(NOW + 9.9, "pending")] == [1, 2, 3]  # ours: read again
    assert [e.id for e, _ in b.page(NOW + 20.0, "pending")] == [1, 2, 3]  # a's lease (to +19.9) ran out
    assert {holder for holder, _ in claim_state(db).values()} == {"b"}


def test_renewal_keeps_our_rows_and_reports_the_ones_another_instance_took(backend):
    clock = [NOW]
    db = new_db(backend.url)
    add_events(db, [crm_event(f"c{n}", INCOMING_CALL) for n in range(4)], NOW - 10)
    a = claims_of(backend.url, "a", lease=10.0, clock=lambda: clock[0])
    b = claims_of(backend.url, "b", lease=10.0)
    a.page(NOW, "pending", limit=2)  # rows 1, 2
    assert b.page(NOW + 11, "pending", limit=1)[0][0].id == 1  # a's lease ran out: b takes row 1
    clock[0] = NOW + 12
    assert a.renew({1, 2}) == {2}
    assert [e.id for e, _ in b.page(NOW + 20, "pending", exclude_ids=[1])] == [3, 4]  # 2: renewed to +22
    assert claim_state(db)[2][0] == "a" and a.renew_in() > 0


def test_a_stale_outcome_is_refused_and_the_newer_claim_kept(backend):
    db = new_db(backend.url)
    add_events(db, [crm_event("c1", INCOMING_CALL)], NOW - 10)
    a, b = claims_of(backend.url, "a"), claims_of(backend.url, "b")
    event = a.page(NOW, "pending")[0][0]
    event_b = b.page(NOW + 30, "pending")[0][0]  # a stalled past its lease; b took the row
    delivered = Outcome(DELIVERED, [], "")

    def outcome(instance, at):
        t = transition_for(event, "acme", delivered, at, RetrySchedule())
        t.claimed_by = instance
        return t
    assert apply_transition(db, outcome("a", NOW + 31)) is False
    assert claim_state(db)[1] == ("b", "pending")
    t = transition_for(event_b, "acme", delivered, NOW + 32, RetrySchedule())
    t.claimed_by = "b"
    assert apply_transition(db, t) is True
    assert claim_state(db)[1] == ("", "delivered")
    assert apply_transition(db, outcome("a", NOW + 33)) is False  # never marked twice


def test_release_gives_back_only_our_due_rows(backend):
    db = new_db(backend.url)
    add_events(db, [crm_event(f"c{n}", INCOMING_CALL) for n in range(4)], NOW - 10)
    a, b = claims_of(backend.url, "a"), claims_of(backend.url, "b")
    a.page(NOW, "pending", limit=2)
    b.page(NOW, "pending", limit=2)
    assert a.release() == 2
    assert [holder for holder, _ in claim_state(db).values()] == ["", "", "b", "b"]
    assert [e.id for e, _ in claims_of(backend.url, "c").page(NOW, "pending")] == [1, 2]


def test_v7_takes_a_v6_outbox_with_no_claims(backend):
    db = new_db_at(backend.url, 6)
    with db.connection_context():  # as a v6 connector wrote it
        db.execute_sql("INSERT INTO outbox (event_id, event_type, callid, extension, domain, params, "
                       "occurred_at, created_at, status, attempts, next_attempt_at, last_error, "
                       "customer, replayed_at) VALUES ('e1', 'incoming_call', 'c1', '101', 'd1', "
                       "'{}', 1, 1, 'pending', 0, 0, '', '', 0)")
    assert migrate(db) == latest_version()
    assert claim_state(db) == {1: ("", "pending")}
    assert [e.id for e, _ in claims_of(backend.url, "a").page(NOW, "pending")] == [1]


def test_two_engines_on_one_database_send_each_webhook_once_in_order_per_call(backend):
    """Both engines poll the same outbox (one is woken by the writes, as the
    ingesting process is); the CRM answers slowly enough for both to be busy."""
    crm = ScriptedCrm(policy=lambda r: gevent.sleep(0.002)).start()
    calls = 60
    plan = planner({"101": ("acme", crm.url)})
    engines = [DeliveryEngine(new_db(backend.url), plan, instance=name, poll_interval=0.05,
                              workers=8, per_endpoint=4, claim_lease=3.0).start()
               for name in ("one", "two")]
    db = new_db(backend.url)
    try:
        # each has renewed once since the other started, and holds no more than its share
        wait_until(lambda: all(engine.claims.others == 1 for engine in engines), timeout=30,
                   what="each engine seeing the other")
        for n in range(calls):
            add_events(db, [crm_event(f"c{n}", INCOMING_CALL), crm_event(f"c{n}", CALL_LOG)], time.time())
            engines[0].wake()
            gevent.sleep(0.002)
        wait_until(lambda: len(crm.requests) >= 2 * calls, timeout=60, what="every webhook")
        gevent.sleep(0.3)  # a duplicate would arrive by now
    finally:
        for engine in engines:
            engine.stop(timeout=5)
        crm.stop()
    ids = crm.event_ids()
    assert len(ids) == len(set(ids)) == 2 * calls
    assert all(engine.status().delivered > 0 for engine in engines)  # both took part
    order = {}
    for request in crm.requests:
        order.setdefault(request.query.get("callid") or request.json()["callid"], []).append(
            request.event_type)
    assert all(kinds == [INCOMING_CALL, CALL_LOG] for kinds in order.values()), order
    assert {h for h, _ in claim_state(db).values()} == {""}  # each outcome cleared its claim


def test_check_config_names_a_lease_too_short_to_renew_and_an_unusable_instance_name():
    with pytest.raises(ConfigError) as info:
        settings_from_dict({"delivery": {"poll_interval": 1.0, "claim_lease": 2.0,
                                         "instance": "pbx a"}}, env={})
    problems = "\n".join(info.value.problems)
    assert "delivery.claim_lease: must be >= 3 x poll_interval" in problems
    assert "delivery.instance:" in problems
    settings = settings_from_dict({"delivery": {"claim_lease": 3.0, "instance": "pbx-a.example:1"}}, env={})
    engine = DeliveryEngine.from_settings(None, None, settings.delivery)
    assert (engine.claims.instance, engine.claims.lease) == ("pbx-a.example:1", 3.0)


def test_with_another_instance_alive_an_engine_holds_no_more_than_it_may(backend):
    """Alone, an instance reads a page ahead; with another alive (seen at its
    last renewal) it holds at most ``hold`` rows, read or in flight, and leaves
    the rest to the others."""
    db = new_db(backend.url)
    add_events(db, [crm_event(f"c{n}", INCOMING_CALL) for n in range(40)], NOW - 10)
    a = claims_of(backend.url, "a")
    a.hold = 8
    a.renew(set())
    assert a.others == 0 and len(a.page(NOW, "pending", limit=10)) == 10  # alone: a whole page
    b = claims_of(backend.url, "b")
    b.renew(set())
    a.renew(set(range(1, 11)))
    assert a.others == 1 and b.others == 1
    assert a.page(NOW, "pending", limit=10, exclude_ids=list(range(1, 11))) == []  # holds 10 > 8
    b.hold = 8
    assert [e.id for e, _ in b.page(NOW, "pending", limit=10, exclude_ids=[])] == list(range(11, 19))
    assert b.page(NOW, "pending", limit=10, exclude_ids=list(range(11, 19))) == []
    b.release()  # b stops: a is alone again once its next renewal sees it
    a.renew(set(range(1, 11)))
    assert a.others == 0 and len(a.page(NOW, "pending", limit=50, exclude_ids=list(range(1, 11)))) == 30
