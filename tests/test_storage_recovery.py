"""What a restarted connector reads back: the tracker state of live calls,
committed with their outbox rows; presence; recently ended calls. On SQLite
and PostgreSQL."""

import time

from esl_connector.records import (
    CALL_LOG,
    INBOUND,
    INCOMING_CALL,
    CallRecord,
    Changes,
    CrmEvent,
    ExtensionRecord,
)
from storage import StorageWriter, migrate, open_database
from storage.migrations import MIGRATIONS
from storage.recovery import load_tracker_snapshot

STATE = {"v": 1, "callid": "live", "legs": [{"uuid": "live", "callid": "live", "name": "sofia/x",
                                             "direction": "inbound"}],
         "notified": [["incoming_call", "101"]]}


def _write(db, *changes):
    writer = StorageWriter(db)
    writer.start()
    for item in changes:
        writer.submit(item)
    assert writer.stop(5)


def test_live_calls_states_presence_and_recently_ended_calls_come_back(backend):
    db = open_database(backend.url)
    migrate(db)
    now = time.time()
    _write(db,
           Changes(calls=[CallRecord("live", INBOUND, "active", legs=["live"], tracker_state=STATE)],
                   crm_events=[CrmEvent(INCOMING_CALL, "live", "101", "d", {}, now)],
                   extensions=[ExtensionRecord("101", "d", "in_call", contact="sip:101@h")]),
           Changes(calls=[CallRecord("done", INBOUND, "active", legs=["done", "leg2"],
                                     tracker_state={**STATE, "callid": "done"})]),
           Changes(calls=[CallRecord("done", INBOUND, "ended", legs=["done", "leg2"],
                                     end_source="lost_track")],
                   crm_events=[CrmEvent(CALL_LOG, "done", "101", "d", {}, now)]))
    snapshot = load_tracker_snapshot(db, finished_since=now - 60)
    assert snapshot.call_states == [STATE]
    assert [(e.extension, e.state, e.contact) for e in snapshot.extensions] == [("101", "in_call", "sip:101@h")]
    assert snapshot.finished == ["done", "leg2", "done"] and snapshot.unrestorable == []
    assert load_tracker_snapshot(db, finished_since=now + 60).finished == []
    with db.connection_context():  # an ended call keeps no state
        assert db.execute_sql("SELECT tracker_state, end_source FROM calls WHERE callid = 'done'"
                              ).fetchone() == ("{}", "lost_track")


def test_a_live_call_stored_before_v3_is_reported_not_restored(backend):
    db = open_database(backend.url)
    migrate(db, MIGRATIONS[:2])
    with db.connection_context():
        db.execute_sql(
            "INSERT INTO calls (callid, node, direction, state, phone, extension, domain, extensions, "
            "started_at, answered_at, ended_at, calldate, status, hangup_cause, duration, billsec, "
            "recording, recordings, userfield, legs, params, created_at, updated_at) VALUES ('old', '', "
            "'inbound', 'active', '', '101', 'd', '[]', 1, 1, 0, '', '', '', 0, 0, '', '[]', '', "
            "'[\"old\"]', '{}', 1, 1)")
    migrate(db)
    snapshot = load_tracker_snapshot(db)
    assert snapshot.call_states == []
    assert [(r.callid, r.state, r.extension, r.legs) for r in snapshot.unrestorable] == [
        ("old", "active", "101", ["old"])]
