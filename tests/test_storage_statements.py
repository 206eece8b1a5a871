"""The writer's compiled statements, on a real SQLite file and a real
PostgreSQL database: rows read back exactly as peewee's own inserts write
them, and a batch of coalesced changes leaves the same tables as writing
every change in its own transaction."""

import json

import peewee
import pytest

from esl_connector.calls.tracker import Tracker
from esl_connector.records import CallRecord, Changes, CrmEvent, ExtensionRecord
from storage.batch import write_batch
from storage.db import open_database
from storage.fields import JSONField
from storage.migrations import migrate
from storage.models import Call, Extension, OutboxEvent
from storage.rows import Batch, call_row, collapse, extension_row, outbox_row, snapshot
from storage.statements import MAX_PARAMS, Upsert, encode_json

from recordings import events

SCENARIOS = ("inbound_answered", "inbound_via_loopback", "click_to_call", "outbound_from_extension")


@pytest.fixture
def open_db(backend, tmp_path):
    opened = []

    def make(which=None):
        db = open_database((which or backend).url)
        migrate(db)
        opened.append(db)
        return db

    yield make
    for db in opened:
        db.close()


def tracked_changes(scenario: str) -> list[Changes]:
    tracker = Tracker()
    return [changes for event in events(scenario, "json") if (changes := tracker.handle(event))]


def pending(changes_list: list[Changes]):
    return [snapshot(changes, seq, 1_700_000_000.0 + seq, 0.0) for seq, changes in enumerate(changes_list, 1)]


def table(backend, name: str, order: str, skip: tuple[str, ...] = ()) -> list[dict]:
    columns = [c for c in {"calls": Call, "extensions": Extension, "outbox": OutboxEvent}[name]._meta.columns
               if c not in skip]
    quoted = ", ".join(f'"{c}"' for c in columns)
    return [dict(zip(columns, row)) for row in backend.rows(f"SELECT {quoted} FROM {name} ORDER BY {order}")]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_coalesced_batch_leaves_the_same_rows_as_one_transaction_per_change(backend, open_db, tmp_path,
                                                                             scenario):
    items = pending(tracked_changes(scenario))
    assert len({row["callid"] for item in items for row in item.calls}) < sum(len(i.calls) for i in items)
    one_by_one, together = backend, backend.another(tmp_path)
    db = open_db(one_by_one)
    for item in items:
        write_batch(db, collapse([item]))
    write_batch(open_db(together), collapse(items))

    for name, order, skip in (("calls", "callid", ()), ("extensions", "domain, extension", ("id",)),
                              ("outbox", "id", ("id",))):
        assert table(together, name, order, skip) == table(one_by_one, name, order, skip), name
    assert len(table(together, "outbox", "id")) == sum(len(i.events) for i in items) > 0


def test_rows_read_back_exactly_as_peewees_own_inserts_write_them(backend, open_db):
    db = open_db()
    state = {"v": 1, "legs": [{"uuid": "a", "variables": {"sip_h_X": "Nguyễn \"quoted\" \\ ✓"}}],
             "notified": [["incoming_call", "1001"]], "z": None, "a": 1.5}
    call = CallRecord("by-statement", "inbound", "active", phone="0901", extension="1001", domain="d",
                      extensions=["1001", "1002"], started_at=1.25, legs=["a", "b"], tracker_state=state,
                      recordings=["/r/1.wav"], duration=3)
    twin = {**call_row(call, 10.0), "callid": "by-peewee"}
    ext = ExtensionRecord("1001", "d", "in_call", contact="sip:1001@x", callid="by-statement", updated_at=9.0)
    with db.atomic():
        Upsert(Call, tuple(call_row(call, 10.0)), ["callid"], ["state"]).execute(db, [call_row(call, 10.0)])
        Call.insert_many([twin]).execute(db)
        Upsert(Extension, tuple(extension_row(ext, 10.0)), ["node", "domain", "extension"], ["state"]).execute(
            db, [extension_row(ext, 10.0)])
        Extension.insert_many([{**extension_row(ext, 10.0), "extension": "1002"}]).execute(db)

    calls = table(backend, "calls", "callid")
    assert [c["callid"] for c in calls] == ["by-peewee", "by-statement"]
    assert {**calls[0], "callid": "by-statement"} == calls[1]
    assert json.loads(calls[1]["tracker_state"]) == state and calls[1]["params"] == "{}"
    extensions = table(backend, "extensions", "extension", ("id",))
    assert {**extensions[1], "extension": "1001"} == extensions[0]
    assert Call.get_by_id("by-statement").tracker_state == state


def test_outbox_rows_take_the_models_defaults_and_an_event_id_is_written_once(backend, open_db):
    db = open_db()
    event = CrmEvent("incoming_call", "c1", "1001", "d", {"phone": "0901", "extension": "1001",
                                                          "callid": "c1"}, 5.0)
    row = outbox_row(event, 6.0)
    statement = Upsert(OutboxEvent, tuple(row), ["event_id"], ["event_id"])
    with db.atomic():
        statement.execute(db, [row])
        statement.execute(db, [dict(row, status="retrying")])  # a retried batch: a no-op
    stored = table(backend, "outbox", "id")
    assert len(stored) == 1
    assert stored[0]["status"] == "pending" and stored[0]["customer"] == "" and stored[0]["replayed_at"] == 0.0
    assert stored[0]["delivered_at"] is None and stored[0]["finished_at"] is None
    assert json.loads(stored[0]["params"]) == event.params


def test_more_rows_than_one_statement_may_bind_are_all_written(backend, open_db):
    db = open_db()
    rows = [call_row(CallRecord(f"c{i:05d}", "inbound", "ringing", phone=str(i)), 1.0)
            for i in range(MAX_PARAMS // 10)]
    write_batch(db, Batch(calls=rows))
    assert backend.rows("SELECT COUNT(*), MIN(callid), MAX(callid) FROM calls") == [
        (len(rows), "c00000", f"c{len(rows) - 1:05d}")]


def test_a_refused_row_raises_peewees_error_and_its_whole_batch_is_rolled_back(backend, open_db):
    db = open_db()
    if backend.is_postgres:
        backend.execute("ALTER TABLE calls ADD CONSTRAINT refused CHECK (callid <> 'bad')")
    else:
        backend.execute("CREATE TRIGGER refused BEFORE INSERT ON calls WHEN NEW.callid = 'bad' "
                        "BEGIN SELECT RAISE(ABORT, 'refused'); END")
    rows = [call_row(CallRecord(callid, "inbound", "ringing"), 1.0) for callid in ("good", "bad")]
    with pytest.raises(peewee.IntegrityError):
        write_batch(db, Batch(calls=rows))
    assert backend.rows("SELECT COUNT(*) FROM calls") == [(0,)]
    write_batch(db, Batch(calls=rows[:1]))  # the connection is usable again
    assert backend.rows("SELECT callid FROM calls") == [("good",)]


def test_json_is_encoded_as_the_json_column_does():
    field = JSONField()
    for value in ({"b": 1, "a": [1, 2.5, None, True], "é": "Nguyễn ✓"}, [], {}, "x", 0, None,
                  {"nested": {"z": 1, "y": {"b": 2, "a": 1}}}):
        assert encode_json(value) == field.db_value(value)
    assert encode_json({1: "a"}) == field.db_value({1: "a"})  # non-string keys: the field's own way


def test_unknown_columns_are_refused_when_the_statement_is_built():
    with pytest.raises(ValueError, match="no column"):
        Upsert(Call, ("callid", "not_a_column"), ["callid"], [])
