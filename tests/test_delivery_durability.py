"""Restarts and outages, on SQLite and on PostgreSQL: the Connector stopped with pending and retrying rows
delivers each event exactly once after a restart; a CRM down for the whole
run while calls keep coming loses nothing, keeps memory bounded, and gets
everything in order per call when it returns."""

import time
from collections import Counter

import gevent
import pytest

from esl_connector.app import Connector
from esl_connector.delivery.due_rows import DueRows
from esl_connector.delivery.engine import DeliveryEngine
from esl_connector.records import CALL_LOG, INCOMING_CALL, Changes
from esl_connector.settings.config import settings_from_dict
from storage import queries
from storage.writer import StorageWriter

from delivery_fixtures import FakeClock, ScriptedCrm, crm_event, new_db, planner, wait_until


def settings(url, **delivery):
    return settings_from_dict({
        "freeswitch": {"host": "127.0.0.1", "port": 1, "connect_timeout": 0.2},
        "storage": {"url": url, "commit_window": 0.01},
        "http": {"port": 0},
        "delivery": {"poll_interval": 0.05, **delivery}}, env={})


def statuses(db):
    return Counter({status: n for status, n in queries.outbox_counts(db).items() if n})


def delivered_once(crm, event_ids):
    answered = Counter(r.headers["X-Event-Id"] for r, status in crm.answered if status == 200)
    return all(answered[e] == 1 for e in event_ids) and sum(answered.values()) == len(event_ids)


@pytest.fixture
def crm():
    server = ScriptedCrm().start()
    yield server
    server.stop()


def test_restart_with_pending_and_retrying_rows_delivers_each_event_exactly_once(backend, crm):
    def slow_and_failing_at_first(request):
        gevent.sleep(0.02)
        return (503, {}) if len(crm.requests) % 3 == 0 and len(crm.requests) < 12 else None
    crm.policy = slow_and_failing_at_first
    plan_for = planner({"101": ("acme", crm.url)})
    path = backend.url
    connector = Connector(settings(path, workers=1, per_endpoint_concurrency=1), plan_for).start()
    for i in range(30):
        connector.writer.submit(Changes(crm_events=[crm_event(f"call-{i}", INCOMING_CALL),
                                                    crm_event(f"call-{i}", CALL_LOG)]))
    wait_until(lambda: statuses(connector.db)["retrying"] >= 2, what="some rows retrying")
    connector.stop()
    before = statuses(connector.db)
    assert before["pending"] > 0 and before["retrying"] > 0, before

    crm.policy = None  # healthy from now on
    restarted = Connector(settings(path), plan_for)
    restarted.deliverer.clock = lambda: time.time() + 3600  # an hour later: retries are due
    restarted.start()
    try:
        wait_until(lambda: statuses(restarted.db) == {"delivered": 60}, timeout=30,
                   what=f"all delivered {statuses(restarted.db)} {restarted.deliverer.status()}")
        ids = [e.event_id for e in queries.list_outbox(restarted.db, limit=100)]
        assert delivered_once(crm, ids)
    finally:
        restarted.stop()


def test_a_crm_down_for_the_whole_run_loses_nothing_and_gets_all_in_order(backend, monkeypatch):
    down = ScriptedCrm().start()
    port = down.port
    down.stop()  # nothing listens: every attempt is a connection error
    clock = FakeClock()
    db = new_db(backend.url)
    # This greenlet polls the outbox hard: one connection for all of it (opening a
    # PostgreSQL connection blocks the hub for a few ms, starving the engine).
    db.connect()
    page_sizes = []

    def spy(self, *args, **kwargs):
        page = read_page(self, *args, **kwargs)
        page_sizes.append(len(page))
        return page
    read_page = DueRows.page
    monkeypatch.setattr(DueRows, "page", spy)
    engine = DeliveryEngine(db, planner({"101": ("acme", f"http://127.0.0.1:{port}")}),
                            workers=8, per_endpoint=4, page_size=50, poll_interval=0.02,
                            clock=clock, connect_timeout=0.5)
    writer = StorageWriter(db, commit_window=0.01, on_commit=engine.wake)
    writer.start()
    engine.start()
    peak = [0]
    watcher = gevent.spawn(lambda: [peak.__setitem__(0, max(peak[0], engine.status().in_flight))
                                    or gevent.sleep(0.001) for _ in iter(int, 1)])
    try:
        for i in range(300):  # calls keep coming, the clock moves on: retries during the outage
            writer.submit(Changes(crm_events=[crm_event(f"call-{i:03d}", INCOMING_CALL)]))
            writer.submit(Changes(crm_events=[crm_event(f"call-{i:03d}", CALL_LOG)]))
            if i % 50 == 49:
                clock.advance(30)
                gevent.sleep(0.05)
        assert writer.flush(5)
        wait_until(lambda: engine.status().endpoints[0]["state"] != "healthy"
                   and engine.status().in_flight == 0, what="the endpoint seen down")
        # endpoint health: only the first failures and the probes were sent; the
        # other rows wait, none burning its retries, call logs behind their calls
        during = statuses(db)
        assert set(during) == {"retrying", "pending"} and sum(during.values()) == 600
        assert during["retrying"] < 40  # the first failures, then a probe a second
        assert peak[0] <= 8 and max(page_sizes) <= 50

        crm = ScriptedCrm(port=port).start()  # the CRM is back
        try:
            # the clock does not move: no row waits for its own next retry
            wait_until(lambda: statuses(db) == {"delivered": 600}, timeout=30, what="all delivered")
            ids = [e.event_id for e in queries.list_outbox(db, limit=1000)]
            assert delivered_once(crm, ids)
            order = [(r.event_type, r.query.get("callid") or r.json()["callid"])
                     for r in crm.requests]
            for i in range(300):
                call = f"call-{i:03d}"
                assert order.index((INCOMING_CALL, call)) < order.index((CALL_LOG, call))
        finally:
            crm.stop()
    finally:
        watcher.kill()
        engine.stop(timeout=2)
        writer.stop()
        db.close()
