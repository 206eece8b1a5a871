"""The delivery engine against a real HTTP CRM on port 0 and a real database
(a SQLite file, a PostgreSQL database), with a controllable clock: outcomes, the retry schedule, Retry-After,
dead letters and replay, skipped rows, ordering per call, isolation."""

import gevent
import peewee
import pytest
from gevent import monkey
from gevent.event import Event

from esl_connector.delivery import admin as delivery_admin
from esl_connector.delivery import recorder as recorder_module
from esl_connector.delivery.due_rows import DueRows
from esl_connector.delivery.engine import DeliveryEngine
from esl_connector.records import CALL_LOG, INCOMING_CALL, OUTGOING_CALL
from storage.db import open_database
from storage.migrations import migrate
from storage.models import DeliveryAttempt

from delivery_fixtures import (
    SECRET,
    FakeClock,
    ScriptedCrm,
    add_events,
    crm_event,
    new_db,
    planner,
    wait_until,
)


@pytest.fixture
def crm():
    server = ScriptedCrm().start()
    yield server
    server.stop()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def db(backend):
    db = new_db(backend.url)
    yield db
    db.close()


@pytest.fixture
def make_engine(db, clock):
    engines = []

    def make(plan_for, **kwargs):
        kwargs.setdefault("poll_interval", 0.05)
        engine = DeliveryEngine(db, plan_for, clock=clock, **kwargs).start()
        engines.append(engine)
        return engine
    yield make
    for engine in engines:
        engine.stop(timeout=2)


def row(db, row_id=1):
    return delivery_admin.get_delivery(db, row_id).event


def attempts(db, row_id=1):
    return delivery_admin.get_delivery(db, row_id).attempts


def wait_status(db, status, row_id=1, timeout=30.0):
    wait_until(lambda: row(db, row_id).status == status, timeout, f"row {row_id} {status}")
    return row(db, row_id)


def test_a_2xx_delivers_and_records_the_attempt_without_the_secret(db, crm, clock, make_engine):
    add_events(db, [crm_event("c1", INCOMING_CALL)], clock())
    make_engine(planner({"101": ("acme", crm.url)}))
    event = wait_status(db, "delivered")
    assert (event.attempts, event.customer, event.delivered_at, event.last_error) == (
        1, "acme", clock(), "")
    [attempt] = attempts(db)
    assert attempt.status_code == 200 and attempt.error == "" and attempt.latency_ms > 0
    assert attempt.url == f"{crm.url}/wsapi/acme/incoming_call?secret=***"
    assert attempt.response_excerpt == '{"status":"success"}'
    [request] = crm.requests
    assert request.query == {"secret": SECRET, "phone": "0901", "extension": "101",
                             "callid": "c1"}
    assert request.headers["X-Event-Id"] == event.event_id


def test_retries_follow_the_schedule_then_deliver(db, crm, clock, make_engine):
    crm.policy = lambda r: (503, {}) if len(crm.requests) < 2 else None
    add_events(db, [crm_event("c1", INCOMING_CALL)], clock())
    engine = make_engine(planner({"101": ("acme", crm.url)}))
    first = wait_status(db, "retrying")
    assert first.attempts == 1 and 4.0 <= first.next_attempt_at - clock() <= 6.0
    assert first.last_error == f"HTTP 503 from {crm.url}/wsapi/acme/incoming_call?secret=***"
    gevent.sleep(0.2)  # not due yet: nothing is sent before the clock says so
    assert len(crm.requests) == 1
    clock.advance(6)
    engine.wake()
    wait_until(lambda: row(db).attempts == 2)
    second = row(db)
    assert second.status == "retrying" and 240 <= second.next_attempt_at - clock() <= 360
    clock.advance(360)
    engine.wake()
    done = wait_status(db, "delivered")
    assert done.attempts == 3 and [a.status_code for a in attempts(db)] == [503, 503, 200]


@pytest.mark.parametrize("header, wait", [("120", 120), ("HTTP-DATE", 600)])
def test_retry_after_is_honoured(db, crm, clock, make_engine, header, wait):
    from email.utils import formatdate
    value = formatdate(clock() + 600, usegmt=True) if header == "HTTP-DATE" else header
    crm.policy = lambda r: (429, {"Retry-After": value}) if len(crm.requests) < 1 else None
    add_events(db, [crm_event("c1", INCOMING_CALL)], clock())
    engine = make_engine(planner({"101": ("acme", crm.url)}))
    event = wait_status(db, "retrying")
    assert wait - 1 <= event.next_attempt_at - clock() <= wait + 1
    clock.advance(wait - 5)
    engine.wake()
    gevent.sleep(0.2)
    assert row(db).status == "retrying"
    clock.advance(10)
    engine.wake()
    wait_status(db, "delivered")


def test_a_permanent_failure_is_a_dead_letter_until_replayed(db, crm, clock, make_engine):
    crm.policy = lambda r: (404, {}, b"no such customer") if len(crm.requests) < 1 else None
    add_events(db, [crm_event("c1", INCOMING_CALL)], clock())
    engine = make_engine(planner({"101": ("acme", crm.url)}))
    dead = wait_status(db, "dead")
    assert dead.attempts == 1 and dead.finished_at == clock()
    assert dead.last_error.startswith("permanent failure: HTTP 404 from ")
    assert attempts(db)[0].response_excerpt == "no such customer"
    assert [e.id for e in delivery_admin.list_deliveries(db, status="dead", customer="acme")] == [1]

    replayed = delivery_admin.retry(db, 1, clock())
    assert (replayed.status, replayed.attempts, replayed.replayed_at) == ("pending", 0, clock())
    engine.wake()
    assert wait_status(db, "delivered").attempts == 1
    assert len(crm.requests) == 2 and len(attempts(db)) == 2  # the history is kept


def test_an_event_older_than_max_age_gives_up(db, crm, clock, make_engine):
    crm.policy = lambda r: (500, {})
    add_events(db, [crm_event("c1", INCOMING_CALL)], clock() - 3 * 86400 + 3)
    make_engine(planner({"101": ("acme", crm.url)}))
    dead = wait_status(db, "dead")
    assert dead.last_error.startswith("gave up after 1 attempt in 3.0 d: HTTP 500")


def test_timeouts_and_connection_errors_are_retried(db, crm, clock, make_engine):
    crm.gate = Event()  # the CRM never answers
    closed = ScriptedCrm().start()
    closed.stop()  # nothing listens there any more
    add_events(db, [crm_event("c1", INCOMING_CALL), crm_event("c2", INCOMING_CALL, "102")],
               clock())
    make_engine(planner({"101": ("acme", crm.url), "102": ("beta", closed.url)}),
                read_timeout=0.3)
    assert wait_status(db, "retrying", 1).last_error.startswith("read timeout after 0.3 s")
    assert wait_status(db, "retrying", 2).last_error.startswith("connection error: ")
    assert SECRET not in row(db, 2).last_error
    crm.gate.set()


def test_an_extension_no_customer_owns_is_skipped_and_never_sent(db, crm, clock, make_engine):
    add_events(db, [crm_event("c1", INCOMING_CALL, "999", "pbx.example")], clock())
    engine = make_engine(planner({"101": ("acme", crm.url)}))
    skipped = wait_status(db, "skipped")
    assert skipped.last_error == "no customer owns extension 999@pbx.example"
    assert crm.requests == [] and attempts(db) == []
    # the row is committed before the engine counts it: wait for the count, don't race it
    wait_until(lambda: engine.status().skipped == 1, what="the engine counting the skipped row")


def test_a_call_log_waits_for_its_call_events_and_other_calls_do_not(db, crm, clock,
                                                                      make_engine):
    failed = []

    def first_incoming_of_a_fails(request):
        if request.event_type == INCOMING_CALL and request.query["callid"] == "A" and not failed:
            failed.append(request)
            return 500, {}
        return None
    crm.policy = first_incoming_of_a_fails
    routes = {ext: ("acme", crm.url) for ext in ("101", "102", "103")}
    add_events(db, [crm_event("A", INCOMING_CALL, "101"), crm_event("A", INCOMING_CALL, "102"),
                    crm_event("B", OUTGOING_CALL, "103"), crm_event("A", CALL_LOG, "102"),
                    crm_event("B", CALL_LOG, "103")], clock())
    engine = make_engine(planner(routes), workers=8)
    wait_until(lambda: len(crm.of_type(CALL_LOG)) == 1
               and "retrying" in (row(db, 1).status, row(db, 2).status))
    gevent.sleep(0.3)  # A's log must still be held back
    assert [r.query.get("callid") or r.json()["callid"] for r in crm.of_type(CALL_LOG)] == ["B"]
    assert row(db, 4).status == "pending" and row(db, 4).attempts == 0
    clock.advance(10)
    engine.wake()
    wait_status(db, "delivered", 4)
    order = [(r.event_type, r.query.get("callid") or r.json()["callid"]) for r in crm.requests
             if r not in failed]
    a_log = order.index((CALL_LOG, "A"))
    assert order.index((INCOMING_CALL, "A")) < a_log
    assert sum(1 for kind, call in order[:a_log] if (kind, call) == (INCOMING_CALL, "A")) == 2


def test_a_slow_endpoint_does_not_hold_up_another(db, crm, clock, make_engine):
    slow = ScriptedCrm().start()
    slow.gate = Event()
    try:
        events = [crm_event(f"s{i}", INCOMING_CALL, "101") for i in range(20)]
        events += [crm_event(f"f{i}", INCOMING_CALL, "102") for i in range(30)]
        add_events(db, events, clock())
        engine = make_engine(planner({"101": ("slow", slow.url), "102": ("fast", crm.url)}),
                             workers=6, per_endpoint=2, page_size=8)
        wait_until(lambda: len(crm.requests) == 30, what="fast customer served")
        assert slow.holding == 2 and engine.status().busy_endpoints[slow.url] == 2
        slow.gate.set()
        wait_until(lambda: len(slow.requests) == 20, what="slow customer served")
        wait_until(lambda: all(e.status == "delivered"
                               for e in delivery_admin.list_deliveries(db, limit=100)))
    finally:
        slow.gate.set()
        slow.stop()


def test_stopping_mid_request_keeps_the_row_due_and_sends_it_once_after(db, crm, clock,
                                                                         make_engine):
    crm.gate = Event()
    add_events(db, [crm_event("c1", INCOMING_CALL)], clock())
    engine = make_engine(planner({"101": ("acme", crm.url)}))
    wait_until(lambda: crm.holding == 1)
    engine.stop(timeout=0.2)  # the request cannot finish: the worker is killed
    assert (row(db).status, row(db).attempts) == ("pending", 0)
    crm.gate.set()
    make_engine(planner({"101": ("acme", crm.url)}))
    wait_status(db, "delivered")
    with db.connection_context():
        assert DeliveryAttempt.select().count() == 1


def test_outcomes_that_finish_during_a_write_are_committed_together(db, clock, make_engine, monkeypatch):
    """Group commit of outcomes: while one transaction runs, the outcomes of
    the deliveries that finish meanwhile wait and go into the next one, and a
    row is not sent again while its outcome waits."""
    release = monkey.get_original("threading", "Event")()
    others = Event()
    batches, real = [], recorder_module.apply_transitions

    def held_first_write(database, transitions):
        batches.append(len(transitions))
        if len(batches) == 1:
            release.wait(5)
        return real(database, transitions)

    def answer_c0_first(request):  # the others answer once c0's outcome is being written
        if request.query.get("callid") != "c0":
            others.wait(5)

    crm = ScriptedCrm(policy=answer_c0_first).start()
    try:
        monkeypatch.setattr(recorder_module, "apply_transitions", held_first_write)
        add_events(db, [crm_event(f"c{n}", INCOMING_CALL) for n in range(10)], clock())
        engine = make_engine(planner({"101": ("acme", crm.url)}), per_endpoint=10)
        wait_until(lambda: batches == [1], what="c0's outcome being written")
        others.set()
        # a worker queues its outcome as soon as it counts the request
        wait_until(lambda: engine.status().requests == 10, what="the nine other deliveries")
        release.set()
        wait_until(lambda: engine.status().delivered == 10, what="every outcome written")
    finally:
        crm.stop()
    assert batches == [1, 9]
    assert len(crm.requests) == 10  # nothing sent twice while its outcome waited
    assert {row(db, n).status for n in range(1, 11)} == {"delivered"}


def test_a_response_with_nul_bytes_is_recorded_and_sent_once(db, crm, clock, make_engine):
    """PostgreSQL's text cannot hold NUL: the attempt log must still be
    written, or the row would stay due and be sent again and again."""
    crm.policy = lambda r: (200, {}, b'{"status":"ok\x00"}\x00')
    add_events(db, [crm_event("c1", INCOMING_CALL)], clock())
    make_engine(planner({"101": ("acme", crm.url)}))
    event = wait_status(db, "delivered")
    gevent.sleep(0.3)
    assert event.attempts == 1 and len(crm.requests) == 1, len(crm.requests)
    assert attempts(db)[0].response_excerpt == '{"status":"ok"}'


def test_an_outcome_that_cannot_be_written_is_not_sent_again_and_again(db, crm, clock, make_engine,
                                                                        monkeypatch):
    def refuse(db, transitions):  # a constraint or a value the database refuses: not a transient error
        raise peewee.IntegrityError("refused by the database")
    monkeypatch.setattr(recorder_module, "apply_transitions", refuse)
    add_events(db, [crm_event("c1", INCOMING_CALL)], clock())
    engine = make_engine(planner({"101": ("acme", crm.url)}))
    wait_until(lambda: len(crm.requests) == 1, what="the first request")
    gevent.sleep(0.5)  # several polls later
    assert len(crm.requests) == 1 and engine.status().in_flight == 1
    assert row(db).status == "pending"  # due again after a restart: sent once more then


def test_an_outcome_met_by_a_locked_sqlite_file_is_written_when_the_lock_goes(sqlite_database, crm, clock,
                                                                              caplog):
    """Another process holds SQLite's write lock past the busy timeout while an
    outcome is written: the write is retried, never held back until a restart
    (the call's log would wait behind its held-back incoming_call)."""
    import sqlite3
    db = open_database(sqlite_database.url, busy_timeout=0.2)
    migrate(db)
    add_events(db, [crm_event("c1", INCOMING_CALL), crm_event("c1", CALL_LOG)], clock())
    crm.gate = Event()
    engine = DeliveryEngine(db, planner({"101": ("acme", crm.url)}), clock=clock, poll_interval=0.05).start()
    locker = sqlite3.connect(sqlite_database.sqlite_path, isolation_level=None)
    try:
        wait_until(lambda: crm.holding == 1, what="the incoming_call in flight")
        locker.execute("BEGIN IMMEDIATE")
        crm.gate.set()  # answered: its outcome meets the lock
        wait_until(lambda: any("while recording the outcome" in r.getMessage() for r in caplog.records),
                   what="the write failing, to be retried")
        locker.execute("ROLLBACK")
        assert wait_status(db, "delivered", 2).attempts == 1
        assert [r.event_type for r in crm.requests] == [INCOMING_CALL, CALL_LOG]  # each sent once
    finally:
        locker.close()
        engine.stop(timeout=2)
        db.close()


def test_rows_read_while_their_endpoint_is_full_are_sent_from_memory_in_order(db, crm, clock, make_engine,
                                                                             monkeypatch):
    """A backlog is read a page at a time: the rows the endpoint cannot take yet
    wait in memory and go as slots free up, oldest first, without the database
    being asked for them again (each query costs the engine's one database
    thread, shared with the outcomes' commits)."""
    pages = []

    def counted(self, *args, **kwargs):
        page = read_page(self, *args, **kwargs)
        pages.append([event.id for event, _ in page])
        return page
    read_page = DueRows.page
    monkeypatch.setattr(DueRows, "page", counted)
    add_events(db, [crm_event(f"c{n}", INCOMING_CALL) for n in range(30)], clock())
    engine = make_engine(planner({"101": ("acme", crm.url)}), per_endpoint=2, page_size=50)
    wait_until(lambda: engine.status().delivered == 30, what="the whole backlog delivered")
    sent = [int(r.query["callid"][1:]) for r in crm.requests]
    assert sorted(sent) == list(range(30))
    assert all(abs(n - position) <= 1 for position, n in enumerate(sent))  # oldest first, 2 at a time
    read = [row_id for page in pages for row_id in page]
    assert sorted(read) == list(range(1, 31)) and len(read) == 30  # each row read once
