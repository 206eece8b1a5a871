"""The engine's prepared due-rows query returns exactly what storage's
``due_for_delivery`` returns (rows, order, pass-through params, the call log
held behind its call's earlier event), for every shape, on both backends."""

import time

from esl_connector.delivery.due_rows import DueRows
from esl_connector.records import CALL_LOG, INCOMING_CALL
from storage import migrate, open_database, queries
from storage.migrations import MIGRATIONS, latest_version
from storage.models import Call, OutboxEvent

from delivery_fixtures import add_events, crm_event, new_db

NOW = time.time()


def prepared_outbox(db):
    """Nine calls: an incoming_call and a call log each; a few rows retrying
    at different times, one customer stamped, one call with params."""
    add_events(db, [crm_event(f"c{n}", kind) for n in range(9) for kind in (INCOMING_CALL, CALL_LOG)],
               NOW - 100)
    db.connect(reuse_if_open=True)
    OutboxEvent.update(customer="acme").where(OutboxEvent.id.in_([3, 6, 9, 12, 15, 18])).execute(db)
    for row_id, at in ((2, NOW - 5), (5, NOW - 50), (7, NOW - 5), (9, NOW + 100)):
        OutboxEvent.update(status="retrying", next_attempt_at=at, attempts=1).where(
            OutboxEvent.id == row_id).execute(db)
    OutboxEvent.update(status="delivered").where(OutboxEvent.id.in_([11, 13])).execute(db)
    Call.insert(callid="c5", params={"ticket": "T-7"}, started_at=NOW, created_at=NOW, updated_at=NOW).on_conflict_ignore().execute(db)
    db.close()


SHAPES = [
    ("pending", {}),
    ("pending", {"after": 4}),
    ("pending", {"limit": 3}),
    ("pending", {"exclude_ids": [1, 3]}),
    ("pending", {"exclude_ids": list(range(1, 12))}),  # more than one padding step
    ("pending", {"exclude_customers": ["acme"]}),
    ("pending", {"exclude_customers": ["acme", "other"], "exclude_ids": [4]}),
    ("retrying", {}),
    ("retrying", {"after": (NOW - 50, 5)}),
    ("retrying", {"exclude_ids": [5]}),
]


def test_the_prepared_query_returns_what_the_storage_query_returns(backend):
    db = new_db(backend.url)
    prepared_outbox(db)
    due = DueRows(db)
    for status, kwargs in SHAPES:
        expected = queries.due_for_delivery(db, NOW, status, **kwargs)
        assert due.page(NOW, status, **kwargs) == expected, (status, kwargs)
    pending = due.page(NOW, "pending")
    ids = [e.id for e, _ in pending]
    assert 1 in ids and 2 not in ids  # c0's call log is retrying, not pending
    assert 3 in ids and 4 not in ids  # c1's call log waits for its incoming_call
    assert {e.callid: p for e, p in pending}["c5"] == {"ticket": "T-7"}
    assert {e.callid: p for e, p in pending}["c6"] == {}


def test_v8_lets_the_pending_walk_pass_a_busy_customers_rows_in_the_index(backend):
    """From a v7 database: (status, id) becomes (status, id, customer), the rows
    stay, and the due query leaving out the busy customer finds the other's rows."""
    db = open_database(backend.url)
    migrate(db, MIGRATIONS[:7])
    add_events(db, [crm_event(f"c{n}", INCOMING_CALL) for n in range(6)], NOW - 100)
    with db.connection_context():
        OutboxEvent.update(customer="busy").where(OutboxEvent.id <= 4).execute(db)
    assert migrate(db) == latest_version()
    with db.connection_context():
        indexes = {tuple(i.columns) for i in db.get_indexes("outbox")}
    assert ("status", "id", "customer") in indexes and ("status", "id") not in indexes
    page = DueRows(db).page(NOW, "pending", exclude_customers=["busy"])
    assert [e.id for e, _ in page] == [5, 6]
    db.close()
