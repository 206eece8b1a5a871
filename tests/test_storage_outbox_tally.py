"""The outbox tally (migration v9): the rows per status the health answer
shows, kept by the database's triggers, equal a COUNT over the outbox after
whatever changed its rows, on a real SQLite file and a real PostgreSQL."""

import random

import pytest
from gevent.threadpool import ThreadPool

from esl_connector.api.status_views import delivery_stats
from esl_connector.delivery import admin as delivery_admin
from esl_connector.delivery.claims import Claims
from esl_connector.delivery.due_rows import DueRows
from esl_connector.delivery.store import Transition, apply_transitions, mark_expired, mark_skipped, release_held
from esl_connector.delivery.webhooks import endpoint_of
from esl_connector.records import CALL_LOG, INCOMING_CALL
from esl_connector.settings.customer_config import parse_customers
from esl_connector.settings.customers import CustomerDirectory
from storage import queries
from storage.batch import write_batch
from storage.db import open_database
from storage.migrations import MIGRATIONS, migrate
from storage.models import OUTBOX_STATUSES, Call, OutboxEvent
from storage.rows import Batch, outbox_row
from storage.schema_v9 import FOLD_EVERY

from delivery_fixtures import add_events, crm_event, new_db

NOW = 1_700_000_000.0
CUSTOMERS = ("acme", "beta")
DIRECTORY = CustomerDirectory(parse_customers([
    {"code": "acme", "domain_crm": "crm.acme.vn", "secret": "s3cr3t-acme", "extensions": "101"},
    {"code": "beta", "domain_crm": "crm.beta.vn", "secret": "s3cr3t-beta", "extensions": "102"}], env={}))
ENDPOINTS = ("https://crm.acme.vn:443", "https://crm.beta.vn:443 https://backup.beta.vn:443", "")


def counted(backend) -> dict[str, int]:
    """What the health answer used to count: a GROUP BY over every outbox row."""
    counts = dict.fromkeys(OUTBOX_STATUSES, 0)
    counts.update(dict(backend.rows("SELECT status, COUNT(*) FROM outbox GROUP BY status")))
    return counts


def stats_from_every_row(backend) -> dict:
    """Per customer and per endpoint of each: rows by status, backlog, oldest
    due row, last delivery, worked out row by row from the whole outbox."""
    def owner_and_endpoints(customer, endpoint, event_type, extension, domain):
        if not customer:
            found = DIRECTORY.owner(extension, domain)
            customer, endpoint = (found.code, "") if found else ("", "")
        if customer and not endpoint:
            planned = DIRECTORY.get(customer).events.get(event_type)
            endpoint = " ".join(dict.fromkeys(endpoint_of(u) for u in planned.urls)) if planned else ""
        return customer, endpoint.split() or [""]

    def add(stats, status, created_at, delivered_at):
        stats["counts"][status] = stats["counts"].get(status, 0) + 1
        if status in ("pending", "retrying"):
            stats["backlog"] += 1
            stats["oldest_pending_at"] = min(filter(None, (stats["oldest_pending_at"], created_at)))
        if status == "delivered" and delivered_at is not None:
            stats["last_delivered_at"] = max(filter(None, (stats["last_delivered_at"], delivered_at)))

    def empty():
        return {"counts": dict.fromkeys(OUTBOX_STATUSES, 0), "backlog": 0, "oldest_pending_at": None,
                "last_delivered_at": None}
    expected = {}
    for row in backend.rows("SELECT customer, endpoint, event_type, extension, domain, status, created_at, "
                            "delivered_at FROM outbox"):
        customer, endpoints = owner_and_endpoints(*row[:5])
        add(expected.setdefault((customer, None), empty()), *row[5:])
        for endpoint in endpoints:
            add(expected.setdefault((customer, endpoint), empty()), *row[5:])
    return expected


def shown_stats(db) -> dict:
    shown = {}
    for customer in delivery_stats(db, DIRECTORY, NOW):
        for stats, endpoint in [(customer, None), *((e, e["endpoint"]) for e in customer["endpoints"])]:
            if stats["counts"] != dict.fromkeys(OUTBOX_STATUSES, 0):  # a configured customer with no rows
                shown[(customer["customer"], endpoint)] = {
                    k: stats[k] for k in ("counts", "backlog", "oldest_pending_at", "last_delivered_at")}
    return shown


def rows_of(db, *statuses) -> list[OutboxEvent]:
    db.connect(reuse_if_open=True)
    query = OutboxEvent.select().order_by(OutboxEvent.id)
    if statuses:
        query = query.where(OutboxEvent.status.in_(statuses))
    return list(query.execute(db))


class Operations:
    """Every path that changes outbox rows, each picked at random with a seeded generator."""

    def __init__(self, db, backend, rng: random.Random):
        self.db, self.backend, self.rng = db, backend, rng
        self.calls = 0
        self.claims = Claims(db, DueRows(db), "here:1", 30.0, lambda: NOW)

    def some(self, rows):
        return self.rng.sample(rows, min(len(rows), self.rng.randint(1, 4)))

    def write_events(self):  # the writer: calls and their events in one transaction
        events = []
        for _ in range(self.rng.randint(1, 6)):
            self.calls += 1
            callid = f"c{self.calls}"
            Call.insert(callid=callid, state="ended", ended_at=NOW - self.rng.choice((10, 99_999)),
                        created_at=NOW, updated_at=NOW).execute(self.db)
            extension = self.rng.choice(("101", "102", "103"))
            events += [crm_event(callid, INCOMING_CALL, extension), crm_event(callid, CALL_LOG, extension)]
        write_batch(self.db, Batch(events=[outbox_row(e, NOW - self.rng.randint(0, 500)) for e in events]))

    def outcomes(self):  # the delivery engine's group commit of outcomes
        rows = self.some(rows_of(self.db, "pending", "retrying"))
        apply_transitions(self.db, [
            Transition(r.id, r.attempts, status, r.attempts + 1, NOW, "", self.rng.choice(CUSTOMERS),
                       delivered_at=NOW + self.rng.randint(0, 99) if status == "delivered" else None,
                       endpoint=self.rng.choice(ENDPOINTS), claimed_by=r.claimed_by)
            for r in rows for status in [self.rng.choice(("delivered", "retrying", "dead", "pending"))]])

    def claim_page(self):  # claims change no status
        self.claims.page(NOW, "pending", limit=self.rng.randint(1, 20))

    def skip(self):
        mark_skipped(self.db, [queries.get_call(self.db, r.callid).events[0]
                               for r in self.some(rows_of(self.db, "pending", "retrying"))], NOW)

    def expire(self):
        mark_expired(self.db, [(r.id, "acme", "expired: too old")
                               for r in self.some(rows_of(self.db, "pending", "retrying"))], NOW)

    def release(self):
        release_held(self.db, [self.rng.choice(CUSTOMERS)])

    def replay_one(self):
        rows = rows_of(self.db)
        if rows:
            delivery_admin.retry(self.db, self.rng.choice(rows).id, NOW)

    def replay_dead(self):
        delivery_admin.retry_all_dead(self.db, self.rng.choice(CUSTOMERS), NOW)

    def replay_since(self):
        delivery_admin.retry_since(self.db, self.rng.choice(CUSTOMERS), NOW - 60, NOW)

    def purge_finished(self):
        delivery_admin.purge_finished(self.db, NOW + 1, chunk=self.rng.randint(1, 5))

    def purge_calls(self):
        queries.purge_ended_calls(self.db, NOW - 1000, chunk=self.rng.randint(1, 5))

    def another_process(self):  # plain SQL on a connection of its own
        rows = rows_of(self.db)
        if rows:
            row = self.rng.choice(rows)
            if self.rng.random() < 0.3:
                self.backend.execute("DELETE FROM outbox WHERE id = ?", (row.id,))
            else:
                self.backend.execute("UPDATE outbox SET status = ? WHERE id = ?",
                                     (self.rng.choice(OUTBOX_STATUSES), row.id))

    def fold(self):  # PostgreSQL folds every so many statements; here at random points too
        if self.backend.is_postgres:
            self.backend.execute("SELECT outbox_tally_fold()")

    def run(self, steps: int, check):
        names = [n for n in vars(Operations) if not n.startswith("_") and n not in ("run", "some")]
        for step in range(steps):
            getattr(self, self.rng.choice(names))()
            self.db.close()
            if step % 10 == 0:
                check(step)


@pytest.mark.parametrize("seed", [7, 2026])
def test_the_counts_equal_a_group_by_after_any_sequence_of_changes(backend, seed):
    db = new_db(backend.url)
    ops = Operations(db, backend, random.Random(seed))

    def check(step):
        assert queries.outbox_counts(db) == counted(backend), f"after step {step} (seed {seed})"
        shown, expected = shown_stats(db), stats_from_every_row(backend)
        assert set(shown) == set(expected), f"after step {step} (seed {seed})"
        for key, stats in expected.items():
            last, newest = shown[key].pop("last_delivered_at"), stats.pop("last_delivered_at")
            assert shown[key] == stats, f"{key} after step {step} (seed {seed})"
            # the latest delivery recorded: a delivered row replayed by hand may have been it
            assert (last is None) == (newest is None) and (last is None or last >= newest), key
    ops.run(300, check)
    check("last")
    assert sum(counted(backend).values()) > 0
    assert len(set(s for s, n in counted(backend).items() if n)) >= 3  # the sequence moved rows around
    db.close()


def test_the_counts_name_an_unknown_status_and_drop_it_when_no_row_has_it(backend):
    db = new_db(backend.url)
    add_events(db, [crm_event("c1", INCOMING_CALL), crm_event("c2", INCOMING_CALL)], NOW)
    backend.execute("UPDATE outbox SET status = 'on_hold' WHERE id = 1")
    assert queries.outbox_counts(db) == {**dict.fromkeys(OUTBOX_STATUSES, 0), "pending": 1, "on_hold": 1}
    backend.execute("DELETE FROM outbox WHERE id = 1")
    assert queries.outbox_counts(db) == {**dict.fromkeys(OUTBOX_STATUSES, 0), "pending": 1}
    db.close()


def test_v9_fills_the_tally_from_the_rows_of_a_v8_database(backend):
    db = open_database(backend.url)
    migrate(db, MIGRATIONS[:8])
    add_events(db, [crm_event(f"c{i}", INCOMING_CALL) for i in range(7)], NOW)
    backend.execute("UPDATE outbox SET status = 'delivered' WHERE id <= 3")
    backend.execute("UPDATE outbox SET status = 'dead' WHERE id = 4")
    assert migrate(db) == 9
    assert queries.outbox_counts(db) == counted(backend) == {
        **dict.fromkeys(OUTBOX_STATUSES, 0), "pending": 3, "delivered": 3, "dead": 1}
    add_events(db, [crm_event("c9", INCOMING_CALL)], NOW)  # the triggers keep it from there on
    backend.execute("UPDATE outbox SET status = 'skipped' WHERE id = 5")
    assert queries.outbox_counts(db) == counted(backend)
    db.close()


def test_a_fold_keeps_the_counts_and_leaves_one_row_per_status(postgres_database):
    db = new_db(postgres_database.url)
    for i in range(20):
        add_events(db, [crm_event(f"c{i}", INCOMING_CALL)], NOW)
    postgres_database.execute("UPDATE outbox SET status = 'delivered' WHERE mod(id, 2) = 0")
    assert postgres_database.rows("SELECT COUNT(*) FROM outbox_tally")[0][0] == 40  # 20 inserts, 10 changes of 2 rows
    postgres_database.execute("SELECT outbox_tally_fold()")
    assert sorted(postgres_database.rows("SELECT status, delta FROM outbox_tally")) == [
        ("delivered", 10), ("pending", 10)]
    assert queries.outbox_counts(db) == counted(postgres_database)
    db.close()


def test_the_tally_stays_a_few_rows_however_many_changes_it_counted(backend):
    """Every FOLD_EVERY-th appended row (SQLite) or appending statement
    (PostgreSQL) folds the tally into one row per key."""
    db = new_db(backend.url)
    conn = backend.connect()
    cursor = conn.cursor()
    for i in range(FOLD_EVERY + 300):  # one statement and one row each
        cursor.execute("INSERT INTO outbox (event_id, event_type, callid, extension, domain, params, occurred_at, "
                       "created_at, status, attempts, next_attempt_at, last_error) "
                       f"VALUES ('{i:032x}', 'incoming_call', 'c{i}', '101', 'd1', '{{}}', 1, 1, "
                       f"'{('pending', 'dead')[i % 2]}', 0, 0, '')")
    conn.close()
    assert queries.outbox_counts(db) == counted(backend) == {
        **dict.fromkeys(OUTBOX_STATUSES, 0), "pending": 650, "dead": 650}
    assert backend.rows("SELECT COUNT(*) FROM outbox_tally")[0][0] <= 300 + 2
    db.close()


def _writer_and_recorder(url: str, name: str, rounds: int, errors: list):
    """One connector's two writers: new rows in batches, and outcomes that move
    rows of several statuses in one transaction, in an order of its own. Each
    moves only its own rows, as its claims ensure: the tally is all they share."""
    db = open_database(url)
    rng = random.Random(name)
    try:
        for i in range(rounds):
            write_batch(db, Batch(events=[outbox_row(crm_event(f"{name}-{i}-{k}", INCOMING_CALL), NOW)
                                          for k in range(rng.randint(1, 8))]))
            rows = [r for r in rows_of(db, "pending", "retrying") if r.callid.startswith(f"{name}-")]
            rng.shuffle(rows)
            apply_transitions(db, [Transition(r.id, r.attempts, rng.choice(("delivered", "retrying", "dead")),
                                              r.attempts + 1, NOW, "", name, claimed_by=r.claimed_by)
                                   for r in rows[:rng.randint(1, 12)]])
            if i % 7 == 0:
                delivery_admin.retry_all_dead(db, name, NOW)
            db.close()
    except Exception as exc:  # reported by the test
        errors.append(f"{name}: {exc!r}")
    finally:
        db.close()


def test_two_connectors_writing_at_once_on_postgresql_neither_deadlock_nor_miscount(postgres_database):
    new_db(postgres_database.url).close()
    errors: list[str] = []
    pool = ThreadPool(3)  # real threads, each with its own connections
    runs = [pool.spawn(_writer_and_recorder, postgres_database.url, name, 120, errors)
            for name in ("east", "west", "north")]
    for run in runs:
        run.get(timeout=300)
    assert errors == []
    db = open_database(postgres_database.url)
    assert queries.outbox_counts(db) == counted(postgres_database)
    assert sum(counted(postgres_database).values()) > 360
    db.close()
