"""Storage of several nodes on a real SQLite file and a real PostgreSQL
database: migration 5 gives rows from before nodes the node "default", the
same extension on two nodes is two rows, presence of a node no longer
configured is forgotten at start, and the stored snapshot is split by node."""

import pytest

from esl_connector.calls.node_trackers import split_snapshot
from esl_connector.records import CallRecord, Changes, ExtensionRecord, TrackerSnapshot
from storage import queries
from storage.db import open_database
from storage.migrations import MIGRATIONS, migrate
from storage.recovery import forget_other_nodes
from storage.writer import StorageWriter


@pytest.fixture
def db(backend):
    db = open_database(backend.url)
    yield db
    db.close()


def test_migration_5_keys_extensions_by_node_and_gives_older_rows_the_default_node(db):
    migrate(db, MIGRATIONS[:4])
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
    assert migrate(db) == 5
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


def test_presence_of_nodes_no_longer_configured_is_forgotten(db):
    migrate(db)
    writer = StorageWriter(db)
    writer.start()
    try:
        writer.submit(Changes(extensions=[ExtensionRecord("101", "d", "idle", node=n) for n in ("a", "b", "old")]))
        assert writer.flush(5)
    finally:
        writer.stop()
    assert forget_other_nodes(db, ["a", "b"]) == 1
    assert sorted(e.node for e in queries.list_extensions(db)) == ["a", "b"]


def test_the_stored_snapshot_is_split_by_node():
    snapshot = TrackerSnapshot(
        call_states=[{"callid": "c1", "node": "b", "legs": {}}, {"callid": "c2", "node": "gone", "legs": {}}],
        extensions=[ExtensionRecord("101", "d", "idle", node="a"), ExtensionRecord("101", "d", "idle", node="b"),
                    ExtensionRecord("102", "d", "idle", node="gone")],
        finished=["f1"], unrestorable=[CallRecord("c3", "inbound", "active", node="gone")])
    parts = split_snapshot(snapshot, ["a", "b"])
    assert [s["callid"] for s in parts["a"].call_states] == ["c2"]  # a call of a removed node: the first's
    assert parts["a"].call_states[0]["node"] == "a"
    assert [s["callid"] for s in parts["b"].call_states] == ["c1"]
    assert [(e.node, e.extension) for e in parts["b"].extensions] == [("b", "101")]
    assert [e.extension for e in parts["a"].extensions] == ["101"]  # 102 of "gone" is left out
    assert parts["a"].finished == parts["b"].finished == ["f1"]
    assert [(r.callid, r.node) for r in parts["a"].unrestorable] == [("c3", "a")]
