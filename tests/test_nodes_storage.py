"""Storage of several nodes on a real SQLite file and a real PostgreSQL
database: migration 6 gives rows from before nodes the node "default", the
same extension on two nodes is two rows, a node taken out of service is
forgotten on request, and the stored snapshot is split by node: what belongs
to nodes this connector does not follow is left alone."""

import pytest

from esl_connector.calls.node_trackers import split_snapshot
from esl_connector.records import CallRecord, Changes, ExtensionRecord, TrackerSnapshot
from storage import queries
from storage.db import open_database
from storage.migrations import MIGRATIONS, migrate
from storage.recovery import forget_node
from storage.writer import StorageWriter


@pytest.fixture
def db(backend):
    db = open_database(backend.url)
    yield db
    db.close()


def test_migration_6_keys_extensions_by_node_and_gives_older_rows_the_default_node(db):
    migrate(db, MIGRATIONS[:5])
    with db.connection_context():
        db.execute_sql("INSERT INTO extensions (domain, extension, state, contact, user_agent, network_ip, "
                       "network_port, expires_at, callid, updated_at) VALUES ('d', '101', 'idle', '', '', "
                       "'', '', 0, '', 0)")
        db.execute_sql("INSERT INTO calls (callid, node, direction, state, phone, extension, domain, "
                       "extensions, started_at, answered_at, ended_at, calldate, status, hangup_cause, "
                       "duration, billsec, recording, recordings, userfield, legs, params, created_at, "
                       "updated_at, end_source, tracker_state) VALUES ('c1', '4d0e5a4e-core-uuid', 'inbound', "
                       "'ended', '', '', '', '[]', 0, 0, 0, '', '', '', 0, 0, '', '[]', '', '[]', '{}', 0, 0, '', "
                       "'{}')")
    assert migrate(db, MIGRATIONS[:6]) == 6
    assert [(e.node, e.extension) for e in queries.list_extensions(db)] == [("default", "101")]
    assert queries.get_call(db, "c1").node == "default"
    writer = StorageWriter(db)
    writer.start()
    try:
        writer.submit(Changes(extensions=[ExtensionRecord("101", "d", "ringing", node="pbx2"),
                                          ExtensionRecord("101", "d", "in_call", node="default")]))
        assert writer.flush(5)
    finally:
        writer.stop()
    assert [(e.node, e.state) for e in queries.list_extensions(db)] == [("default", "in_call"), ("pbx2", "ringing")]


def test_a_node_taken_out_of_service_is_forgotten_its_history_kept(db):
    migrate(db)
    live = CallRecord("c-live", "inbound", "active", node="old", tracker_state={"legs": {"u": {}}})
    writer = StorageWriter(db)
    writer.start()
    try:
        writer.submit(Changes(
            calls=[live, CallRecord("c-ended", "inbound", "ended", node="old"),
                   CallRecord("c-kept", "inbound", "active", node="a")],
            extensions=[ExtensionRecord("101", "d", "idle", node=n) for n in ("a", "old")]))
        assert writer.flush(5)
    finally:
        writer.stop()
    assert forget_node(db, "old", 1000.0, "CONNECTOR_LOST_TRACK") == (1, 1)
    assert [e.node for e in queries.list_extensions(db)] == ["a"]
    closed = queries.get_call(db, "c-live")
    assert (closed.state, closed.end_source, closed.ended_at) == ("ended", "lost_track", 1000.0)
    assert queries.get_call(db, "c-ended").state == "ended" and queries.get_call(db, "c-kept").state == "active"


def test_the_stored_snapshot_is_split_by_node():
    snapshot = TrackerSnapshot(
        call_states=[{"callid": "c1", "node": "b", "legs": {}}, {"callid": "c2", "node": "gone", "legs": {}}],
        extensions=[ExtensionRecord("101", "d", "idle", node="a"), ExtensionRecord("101", "d", "idle", node="b"),
                    ExtensionRecord("102", "d", "idle", node="gone")],
        finished=["f1"], unrestorable=[CallRecord("c3", "inbound", "active", node="gone")])
    parts = split_snapshot(snapshot, ["a", "b"])
    assert [s["callid"] for s in parts["b"].call_states] == ["c1"]
    assert parts["a"].call_states == [] and parts["a"].unrestorable == []  # "gone": another's, left alone
    assert [(e.node, e.extension) for e in parts["b"].extensions] == [("b", "101")]
    assert [e.extension for e in parts["a"].extensions] == ["101"]
    assert parts["a"].finished == parts["b"].finished == ["f1"]
