"""Upgrading a populated database: from every older schema version to the
latest, on a real SQLite file and a real PostgreSQL database, every row of
every table survives with its values, and outbox ids are never handed out
again. (On SQLite a column added NOT NULL the way peewee does it by default
rebuilds the table, and dropping the old ``outbox`` would delete every
``delivery_attempts`` row through its ON DELETE CASCADE, and reset the id
sequence: the migrations add such columns with a DEFAULT instead.)"""

import pytest

from storage.db import open_database
from storage.migrations import MIGRATIONS, V6_FIRST_NODE, current_version, latest_version, migrate

# A value for every column any version has had; a column missing here fails
# the test (add a sample value when a migration adds one).
SAMPLES = {
    "calls": dict(
        node="fs1", direction="inbound", state="ended", phone="0904824242", extension="101",
        domain="d1", extensions='["101"]', started_at=10.0, answered_at=11.0, ended_at=20.0,
        calldate="2026-11-25 21:13:13", status="ANSWERED", hangup_cause="NORMAL_CLEARING",
        duration=10, billsec=9, recording="/r.wav", recordings='["/r.wav"]', userfield="ORDER-1",
        legs='[{"uuid": "a"}]', params='{"k": "v"}', created_at=10.0, updated_at=20.0,
        end_source="cdr", tracker_state='{"legs": []}'),
    "extensions": dict(
        node="fs1", domain="d1", state="idle", contact="sip:101@10.0.0.5:5060", user_agent="Zoiper 5",
        network_ip="10.0.0.5", network_port="5060", expires_at=1e9, callid="", updated_at=5.0),
    "outbox": dict(
        event_type="call_answered", extension="101", domain="d1", params='{"billsec": 9}',
        occurred_at=20.0, created_at=20.0, status="dead", attempts=2, next_attempt_at=30.0,
        last_error="HTTP 500", delivered_at=None, customer="acme", replayed_at=0.0, finished_at=40.0,
        endpoint="http://crm", claimed_by="", claim_until=0.0),
    "delivery_attempts": dict(
        at=25.0, url="http://crm/x?secret=***", status_code=500, latency_ms=12.5, error="",
        response_excerpt="oops", request='{"method": "POST"}'),
    "cdr_legs": dict(source="file", state="done", leg="{}", received_at=21.0, done_at=22.0),
    "cdr_files": dict(size=1234, mtime=21.0, outcome="accepted", error="", processed_at=22.0),
}
KEYS = {  # each row's own key values (i: the row's number)
    "calls": lambda i: {"callid": f"call-{i}"},
    "extensions": lambda i: {"extension": f"10{i}"},
    "outbox": lambda i: {"event_id": f"event-{i}", "callid": f"call-{i}"},
    "delivery_attempts": lambda i: {"outbox_id": i},
    "cdr_legs": lambda i: {"uuid": f"leg-{i}", "callid": f"call-{i}"},
    "cdr_files": lambda i: {"path": f"/var/log/freeswitch/json_cdr/leg-{i}.cdr.json"},
}
ROWS = 3


def _columns(db, table):
    return {c.name: c for c in db.get_columns(table)}


def _insert(db, table, i):
    values = {**SAMPLES[table], **KEYS[table](i)}
    columns = [c for c in _columns(db, table).values() if not (c.primary_key and c.name == "id")]
    missing = [c.name for c in columns if c.name not in values]
    assert not missing, f"no sample value for {table}.{missing}: add one to SAMPLES"
    names = [c.name for c in columns]
    marks = ", ".join(["%s" if db.param == "%s" else "?"] * len(names))
    db.execute_sql(f'INSERT INTO "{table}" ({", ".join(names)}) VALUES ({marks})',
                   [values[n] for n in names])


def _snapshot(db, tables_columns):
    with db.connection_context():
        return {table: db.execute_sql(f'SELECT {", ".join(columns)} FROM "{table}" ORDER BY 1').fetchall()
                for table, columns in tables_columns.items()}


def _renamed_nodes(snapshot, tables_columns, version):
    """The one value an upgrade rewrites on purpose: from version 6 a call's
    ``node`` is the node's configured name, not FreeSWITCH's Core-UUID, and
    rows from before belong to the node ``default``."""
    if version >= 6:
        return snapshot
    at = tables_columns["calls"].index("node")
    return {**snapshot, "calls": [(*row[:at], V6_FIRST_NODE, *row[at + 1:]) for row in snapshot["calls"]]}


@pytest.mark.parametrize("version", range(1, latest_version()))
def test_every_row_of_a_populated_older_database_survives_the_upgrade(backend, version):
    db = open_database(backend.url)
    migrate(db, MIGRATIONS[:version])
    with db.connection_context():
        tables = [t for t in SAMPLES if db.table_exists(t)]
        with db.atomic():
            for i in range(1, ROWS + 1):
                for table in tables:
                    _insert(db, table, i)
            # the newest outbox row (and its attempt) is gone, as after a purge:
            # its id must still never be handed out again
            db.execute_sql(f"DELETE FROM delivery_attempts WHERE outbox_id = {ROWS}")
            db.execute_sql(f"DELETE FROM outbox WHERE id = {ROWS}")
        before_columns = {t: sorted(_columns(db, t)) for t in tables}
    before = _snapshot(db, before_columns)
    assert len(before["delivery_attempts"]) == ROWS - 1 and len(before["calls"]) == ROWS

    assert migrate(db) == latest_version()

    assert _snapshot(db, before_columns) == _renamed_nodes(before, before_columns, version)
    with db.connection_context():
        _insert(db, "outbox", ROWS + 1)
        new_id = db.execute_sql("SELECT MAX(id) FROM outbox").fetchone()[0]
    assert new_id > ROWS, "an outbox id was handed out twice"
    assert current_version(db) == latest_version()
    db.close()
