"""storage.queries on a real SQLite file and a real PostgreSQL database, filled
through the StorageWriter."""

import pytest

from esl_connector.records import (
    CALL_LOG,
    IDLE,
    INBOUND,
    INCOMING_CALL,
    OUTBOUND,
    OUTGOING_CALL,
    CallRecord,
    Changes,
    CrmEvent,
    ExtensionRecord,
)
from storage import queries
from storage.db import open_database
from storage.migrations import migrate
from storage.models import DeliveryAttempt, OutboxEvent
from storage.views import StoredCall, StoredEvent, StoredExtension
from storage.writer import StorageWriter


def call(callid, started, state="ended", ext="101", rung=(), direction=INBOUND):
    return CallRecord(callid=callid, direction=direction, state=state, phone="0901",
                      extension=ext, domain="d1", extensions=[ext, *rung],
                      started_at=started, ended_at=started + 30 if state == "ended" else 0,
                      legs=[f"{callid}-a"])


def event(callid, event_type, ext="101"):
    return CrmEvent(event_type, callid, ext, "d1", {"callid": callid, "duration": 30}, 1.0)


@pytest.fixture
def db(backend):
    db = open_database(backend.url)
    migrate(db)
    writer = StorageWriter(db)
    writer.start()
    writer.submit(Changes(calls=[call("old", 100.0)],
                          crm_events=[event("old", INCOMING_CALL), event("old", CALL_LOG)]))
    writer.submit(Changes(calls=[call("mid", 200.0, ext="102", rung=("103",))],
                          crm_events=[event("mid", INCOMING_CALL, "102")]))
    writer.submit(Changes(calls=[call("new", 300.0, state="active", ext="104",
                                      direction=OUTBOUND)],
                          crm_events=[event("new", OUTGOING_CALL, "104")],
                          extensions=[ExtensionRecord("104", "d1", IDLE),
                                      ExtensionRecord("101", "d1", IDLE)]))
    assert writer.stop(5)
    yield db
    db.close()


def ids(items):
    return [item.callid for item in items]


def test_list_calls_filters_and_pages(db):
    calls = queries.list_calls(db)
    assert ids(calls) == ["new", "mid", "old"]
    assert isinstance(calls[0], StoredCall) and calls[0].legs == ["new-a"]
    assert calls[0].params == {} and calls[0].events == []
    assert ids(queries.list_calls(db, active=True)) == ["new"]
    assert ids(queries.list_calls(db, active=False)) == ["mid", "old"]
    assert ids(queries.list_calls(db, extension="103")) == ["mid"]  # rung, not answered
    assert ids(queries.list_calls(db, extension="10")) == []
    assert ids(queries.list_calls(db, limit=1, before=300.0)) == ["mid"]
    assert db.is_closed()  # no connection left open by the read side


def test_get_call_with_its_events_in_order(db):
    got = queries.get_call(db, "old")
    assert got.direction == INBOUND and got.extensions == ["101"]
    assert [e.event_type for e in got.events] == [INCOMING_CALL, CALL_LOG]
    assert isinstance(got.events[0], StoredEvent)
    assert got.events[1].params == {"callid": "old", "duration": 30}
    assert queries.get_call(db, "nope") is None


def test_list_extensions(db):
    exts = queries.list_extensions(db)
    assert [(e.domain, e.extension, e.state) for e in exts] == [
        ("d1", "101", IDLE), ("d1", "104", IDLE)]
    assert isinstance(exts[0], StoredExtension)
    assert queries.list_extensions(db, domain="other") == []


def test_outbox_listing_and_counts(db):
    with db.connection_context():
        OutboxEvent.update(status="delivered").where(OutboxEvent.callid == "old").execute(db)
    assert [e.callid for e in queries.list_outbox(db)] == ["new", "mid", "old", "old"]
    assert [e.callid for e in queries.list_outbox(db, status="pending")] == ["new", "mid"]
    assert len(queries.list_outbox(db, callid="old")) == 2
    newest = queries.list_outbox(db, limit=1)[0]
    assert [e.callid for e in queries.list_outbox(db, before_id=newest.id, limit=1)] == ["mid"]
    assert queries.outbox_counts(db) == {
        "pending": 2, "delivered": 2, "retrying": 0, "dead": 0, "skipped": 0,
        "expired": 0}


def test_pending_outbox_pages_in_id_order(db):
    with db.connection_context():
        OutboxEvent.update(status="retrying", next_attempt_at=OutboxEvent.next_attempt_at + 60
                           ).where(OutboxEvent.callid == "mid").execute(db)
    now = queries.list_outbox(db, limit=1)[0].next_attempt_at
    due = list(queries.pending_outbox(db, now, page_size=1))
    assert [(e.callid, e.event_type) for e in due] == [
        ("old", INCOMING_CALL), ("old", CALL_LOG), ("new", OUTGOING_CALL)]
    assert [e.id for e in due] == sorted(e.id for e in due)
    later = list(queries.pending_outbox(db, now + 61, limit=3, page_size=2))
    assert [e.callid for e in later] == ["old", "old", "mid"]


def test_purge_keeps_calls_with_events_still_due(db):
    with db.connection_context():
        OutboxEvent.update(status="delivered").where(OutboxEvent.callid == "old").execute(db)
        first = OutboxEvent.select(OutboxEvent.id).where(OutboxEvent.callid == "old").first(db)
        DeliveryAttempt.insert(outbox=first.id, at=1.0, url="https://crm/x?secret=***",
                               status_code=200).execute(db)
    assert queries.purge_ended_calls(db, older_than=10_000.0, chunk=1) == 1
    assert ids(queries.list_calls(db)) == ["new", "mid"]  # mid's event is still pending
    assert queries.list_outbox(db, callid="old") == []
    with db.connection_context():
        assert DeliveryAttempt.select().count(db) == 0  # cascaded with its outbox row
    assert queries.purge_ended_calls(db, older_than=10_000.0) == 0
