"""StorageWriter on a real SQLite file and a real PostgreSQL database:
transactions, collapsing, order, outages, locks."""

import itertools
import logging
import time

import gevent
import gevent.event
import peewee
import pytest

import storage.batch
import storage.writer
from esl_connector.records import (
    CALL_LOG,
    IN_CALL,
    INBOUND,
    INCOMING_CALL,
    RINGING,
    CallRecord,
    Changes,
    CrmEvent,
    ExtensionRecord,
)
from esl_connector.settings.config import StorageSettings
from storage.db import open_database
from storage.migrations import migrate
from storage.writer import StorageWriter


@pytest.fixture
def db(backend):
    db = open_database(backend.url)
    migrate(db)
    yield db
    db.close()


@pytest.fixture
def rows(backend):
    """Read with a separate connection, as another process would."""
    return backend.rows


@pytest.fixture
def make_writer(request):
    writers = []

    def make(**kwargs):
        kwargs.setdefault("commit_window", 0.05)
        kwargs.setdefault("retry_initial", 0.01)
        kwargs.setdefault("retry_max", 0.05)
        database = kwargs.pop("database", None) or request.getfixturevalue("db")
        writer = StorageWriter(database, **kwargs)
        writer.start()
        writers.append(writer)
        return writer

    yield make
    for writer in writers:
        writer.stop(timeout=2)


def call_changes(callid, state="ringing", events=(INCOMING_CALL,), ext="101", padding=""):
    call = CallRecord(callid=callid, direction=INBOUND, state=state, phone="0901234567",
                      extension=ext, domain="d1", extensions=[ext], userfield=padding)
    crm = [CrmEvent(t, callid, ext, "d1", {"phone": "0901234567", "callid": callid}, 1.0)
           for t in events]
    return Changes(calls=[call], crm_events=crm,
                   extensions=[ExtensionRecord(ext, "d1", RINGING, callid=callid)])


def wait_until(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        gevent.sleep(0.005)


def test_a_call_and_its_outbox_rows_commit_together(make_writer, rows):
    writer = make_writer()
    writer.submit(call_changes("c1", events=(INCOMING_CALL, CALL_LOG)))
    assert writer.flush(5)
    assert rows("SELECT callid, state FROM calls") == [("c1", "ringing")]
    assert rows("SELECT callid, event_type, status, attempts FROM outbox ORDER BY id") == [
        ("c1", INCOMING_CALL, "pending", 0), ("c1", CALL_LOG, "pending", 0)]
    ids = rows("SELECT event_id FROM outbox")
    assert all(len(i) == 32 for (i,) in ids) and len(set(ids)) == 2
    status = writer.status()
    assert (status.commits, status.changes_written, status.events_written) == (1, 1, 2)
    assert status.queued_changes == 0 and status.last_commit_at > 0


def test_failure_mid_transaction_leaves_neither_then_retries_once(make_writer, rows,
                                                                 monkeypatch):
    real_insert = storage.batch._insert_events
    failed = []

    def fail_once(db, batch_rows):
        if not failed:
            failed.append(True)  # calls and extensions are already written at this point
            raise peewee.OperationalError("injected failure after the call upsert")
        real_insert(db, batch_rows)

    monkeypatch.setattr(storage.batch, "_insert_events", fail_once)
    writer = make_writer(retry_initial=30, retry_max=30)
    writer.submit(call_changes("c1"))
    wait_until(lambda: writer.status().failures == 1)
    assert rows("SELECT COUNT(*) FROM calls") == [(0,)]
    assert rows("SELECT COUNT(*) FROM extensions") == [(0,)]
    assert writer.status().queued_changes == 1
    assert "injected failure" in writer.status().last_error
    assert writer.flush(5)  # flush retries at once, without waiting for the backoff
    assert rows("SELECT COUNT(*) FROM calls") == [(1,)]
    assert rows("SELECT COUNT(*) FROM outbox") == [(1,)]
    assert writer.status().last_error == ""


def test_bad_data_rejects_only_the_change_that_carries_it(backend, db, make_writer, rows):
    # a constraint on the outbox: not a transient error
    if backend.is_postgres:
        backend.execute("ALTER TABLE outbox ADD CONSTRAINT no_events CHECK (event_type = 'none')")
    else:
        backend.execute("CREATE TRIGGER no_events BEFORE INSERT ON outbox "
                        "BEGIN SELECT RAISE(ABORT, 'rejected by trigger'); END")
    writer = make_writer(commit_window=10)
    writer.submit(Changes(extensions=[ExtensionRecord("102", "d1", IN_CALL)]))
    writer.submit(call_changes("c1"))
    assert writer.flush(5)
    assert rows("SELECT extension FROM extensions") == [("102",)]
    assert rows("SELECT COUNT(*) FROM calls") == [(0,)]  # not without its event
    assert writer.status().rejected == 1


def test_versions_collapse_to_the_latest_within_a_batch(db, make_writer, rows):
    writer = make_writer(commit_window=10)  # only flush() commits
    writer.submit(call_changes("c1", "ringing"))
    writer.submit(call_changes("c1", "active", events=()))
    writer.submit(call_changes("c1", "ended", events=(CALL_LOG,), ext="102"))
    assert writer.flush(5)
    status = writer.status()
    assert (status.commits, status.changes_written) == (1, 3)
    assert status.rows_written == 1 + 2 + 2  # one call, two extensions, two events
    assert rows("SELECT state, extension, extensions FROM calls") == [
        ("ended", "102", '["102"]')]
    with db.connection_context():  # click-to-call's params must survive later upserts
        db.execute_sql("UPDATE calls SET params = '{\"order\":\"42\"}'")
    created = rows("SELECT created_at FROM calls")
    writer.submit(call_changes("c1", "ended", events=()))
    assert writer.flush(5)
    assert rows("SELECT params FROM calls") == [('{"order":"42"}',)]
    assert rows("SELECT created_at FROM calls") == created


def test_outbox_ids_follow_submit_order_across_batches(make_writer, rows):
    writer = make_writer()
    order = []
    for i in range(30):
        callid = f"c{i % 7}"
        writer.submit(call_changes(callid, events=(INCOMING_CALL, CALL_LOG)))
        order += [(callid, INCOMING_CALL), (callid, CALL_LOG)]
        if i % 10 == 9:
            assert writer.flush(5)
    assert writer.flush(5)
    assert rows("SELECT callid, event_type FROM outbox ORDER BY id") == order


def test_max_batch_commits_without_waiting_for_the_window(make_writer, rows):
    commits = []
    writer = make_writer(commit_window=30, max_batch=5, on_commit=commits.append)
    seqs = [writer.submit(call_changes(f"c{i}")) for i in range(5)]
    wait_until(lambda: commits)
    assert (commits[0].first_seq, commits[0].last_seq, commits[0].events) == (
        seqs[0], seqs[-1], 5)
    assert rows("SELECT COUNT(*) FROM calls") == [(5,)]


def test_full_disk_on_sqlite_keeps_everything_queued_and_commits_it_exactly_once(
        sqlite_database, make_writer, caplog):
    rows = sqlite_database.rows
    db = open_database(sqlite_database.url)
    migrate(db)
    with db.connection_context():
        pages = db.execute_sql("PRAGMA page_count").fetchone()[0]
    db.pragma("max_page_count", pages, permanent=True)  # every new connection gets it
    db.close()
    writer = make_writer(database=db)
    for i in range(40):
        writer.submit(call_changes(f"c{i}", padding="x" * 2000))
    with caplog.at_level(logging.INFO, logger="storage"):
        wait_until(lambda: writer.status().failures >= 3)
        status = writer.status()
        assert "database or disk is full" in status.last_error
        assert status.queued_changes == 40 and status.failing_since > 0
        assert rows("SELECT COUNT(*) FROM calls") == [(0,)]

        db.pragma("max_page_count", 1_000_000, permanent=True)  # "free some space"
        db.close()
        assert writer.flush(5)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, errors  # one clear error, not one per retry
    assert "cannot write to sqlite:" in errors[0] and "40 changes waiting" in errors[0]
    assert any("writing to" in r.getMessage() and "again" in r.getMessage()
               for r in caplog.records if r.levelno == logging.WARNING)
    assert rows("SELECT COUNT(*), COUNT(DISTINCT callid) FROM calls") == [(40, 40)]
    assert rows("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM outbox") == [(40, 40)]
    assert writer.status().queued_changes == 0 and writer.status().failing_since == 0


def test_a_lost_postgresql_server_keeps_everything_queued_and_commits_it_exactly_once(
        postgres_database, make_writer, caplog):
    db = open_database(postgres_database.url)
    migrate(db)
    writer = make_writer(database=db)
    writer.submit(call_changes("before"))
    assert writer.flush(5)  # the writer's thread holds an open connection now
    postgres_database.refuse_connections()  # that connection is cut, new ones are refused
    try:
        with caplog.at_level(logging.INFO, logger="storage"):
            for i in range(40):
                writer.submit(call_changes(f"c{i}"))
            wait_until(lambda: writer.status().failures >= 3)
            status = writer.status()
            assert "not currently accepting connections" in status.last_error
            assert status.queued_changes == 40 and status.failing_since > 0
        postgres_database.allow_connections()  # the server is back
        with caplog.at_level(logging.INFO, logger="storage"):
            assert writer.flush(5)
    finally:
        postgres_database.allow_connections()
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    # the connection cut, then refused connections: one error per reason, not per retry
    assert 1 <= len(errors) <= 2, errors
    assert all(e.startswith("cannot write to postgresql://127.0.0.1/") for e in errors)
    assert any("again" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    rows = postgres_database.rows
    assert rows("SELECT COUNT(*), COUNT(DISTINCT callid) FROM calls") == [(41, 41)]
    assert rows("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM outbox") == [(41, 41)]
    assert writer.status().queued_changes == 0 and writer.status().failing_since == 0


def _hold_write_lock(backend):
    """Another process holds the lock the writer needs; returns (release, writer_waits)."""
    locker = backend.connect()
    cursor = locker.cursor()
    if backend.is_postgres:
        cursor.execute("BEGIN")
        cursor.execute("LOCK TABLE calls IN ACCESS EXCLUSIVE MODE")

        watcher = backend.connect().cursor()  # connected now: polling must not block the hub for long

        def writer_waits():  # a backend of this database waiting for a lock
            watcher.execute("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND wait_event_type = 'Lock'")
            return watcher.fetchone()[0] > 0
    else:
        cursor.execute("BEGIN IMMEDIATE")
        watcher = writer_waits = None

    def release():
        cursor.execute("ROLLBACK")
        locker.close()
        if watcher is not None:
            watcher.connection.close()
    return release, writer_waits


def test_locked_database_neither_blocks_submit_nor_the_hub(backend, make_writer, rows):
    # SQLite: fail after 1 s, then retry; a writer waiting on the hub would stop it that long
    db = open_database(backend.url, busy_timeout=1.0)
    migrate(db)
    release, writer_waits = _hold_write_lock(backend)
    try:
        writer = make_writer(database=db, retry_initial=0.05, retry_max=0.1)
        ticks = []
        ticker = gevent.spawn(lambda: [ticks.append(time.monotonic()) or gevent.sleep(0.01)
                                       for _ in iter(int, 1)])
        started = time.monotonic()
        for i in range(500):
            writer.submit(call_changes(f"c{i}"))
        assert time.monotonic() - started < 0.8  # no I/O on the caller's greenlet (one would wait 1 s)
        if writer_waits is None:
            wait_until(lambda: "locked" in writer.status().last_error, timeout=30)
        else:  # PostgreSQL waits for the lock as long as it takes
            wait_until(writer_waits, timeout=30)  # (each poll is a query on the hub: not measured)
        ticks.clear()
        gevent.sleep(2.5)  # the writer waits for the lock meanwhile: SQLite's 1 s timeouts and retries
        ticker.kill()
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        assert gaps and max(gaps) < 0.8  # the hub ran while the writer waited for the lock
    finally:
        release()  # a failure above must not leave the lock held for the next tests
    assert writer.flush(5)
    assert rows("SELECT COUNT(*) FROM calls") == [(500,)]
    db.close()


def test_a_concurrent_reader_sees_committed_data_and_does_not_block_the_writer(
        backend, make_writer, rows):
    writer = make_writer()
    reader = backend.connect().cursor()
    writer.submit(call_changes("c1"))
    assert writer.flush(5)
    reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ" if backend.is_postgres else "BEGIN")
    reader.execute("SELECT callid FROM calls")
    assert reader.fetchall() == [("c1",)]
    writer.submit(call_changes("c2"))
    assert writer.flush(5)  # WAL / MVCC: a reader's open transaction does not block commits
    reader.execute("SELECT COUNT(*) FROM calls")
    assert reader.fetchall() == [(1,)]  # its snapshot
    reader.execute("COMMIT")
    reader.execute("SELECT COUNT(*) FROM calls")
    assert reader.fetchall() == [(2,)]
    reader.connection.close()


def test_stop_flushes_and_submit_of_nothing_is_ignored(db, rows):
    writer = StorageWriter(db, commit_window=30)
    writer.start()
    assert writer.submit(Changes()) == 0
    writer.submit(call_changes("c1"))
    assert writer.stop(timeout=5)
    assert not writer.running and not writer.status().running
    assert rows("SELECT COUNT(*) FROM outbox") == [(1,)]


def test_inline_mode_writes_on_the_writer_greenlet(make_writer, rows):
    writer = make_writer(use_threadpool=False)
    writer.submit(call_changes("c1"))
    assert writer.flush(5)
    assert rows("SELECT COUNT(*) FROM calls") == [(1,)]
    assert writer.status().in_threadpool is False


def test_group_commit_commits_at_once_when_idle_and_batches_what_arrives_during_a_commit(
        db, rows, monkeypatch):
    """The default: no window. The first change is written as soon as it is
    submitted; the changes submitted while that commit runs go together in the
    next one, so batches grow with load and nothing waits at low load."""
    assert StorageSettings().commit_window == 0
    entered, release, real = gevent.event.Event(), gevent.event.Event(), storage.writer.write_batch

    def slow_first_write(database, batch):
        if not entered.is_set():
            entered.set()
            release.wait()
        real(database, batch)

    monkeypatch.setattr(storage.writer, "write_batch", slow_first_write)
    writer = StorageWriter(db)   # default commit_window
    writer.start()
    try:
        writer.submit(call_changes("c0"))
        assert entered.wait(5), "the first change was not written without a flush"
        for n in range(1, 6):
            writer.submit(call_changes(f"c{n}"))
        release.set()
        wait_until(lambda: writer.status().changes_written == 6)
        assert writer.status().commits == 2
        assert rows("SELECT COUNT(*) FROM calls") == [(6,)]
    finally:
        writer.stop(timeout=2)


def test_values_longer_than_their_column_are_cut_not_rejected(make_writer, rows):
    """PostgreSQL enforces VARCHAR(n) (SQLite does not): a caller-controlled
    value (a 300-digit caller id) must not cost the call its CRM events."""
    changes = call_changes("c1", events=(INCOMING_CALL, CALL_LOG))
    changes.calls[0].phone = "9" * 300
    changes.calls[0].hangup_cause = "CAUSE_" * 20
    changes.extensions[0].network_port = "5060" * 10
    writer = make_writer()
    writer.submit(changes)
    assert writer.flush(5)
    assert writer.status().rejected == 0
    assert rows("SELECT phone, hangup_cause FROM calls") == [("9" * 255, ("CAUSE_" * 20)[:64])]
    assert rows("SELECT network_port FROM extensions") == [("5060" * 4,)]
    assert rows("SELECT COUNT(*) FROM outbox") == [(2,)]


def test_nul_characters_are_dropped_not_rejected(make_writer, rows):
    """PostgreSQL's text cannot hold NUL (SQLite's can): a NUL in a
    caller-controlled value must not cost the call its CRM events."""
    changes = call_changes("c1", events=(INCOMING_CALL,), padding="ORDER\x00-42")
    changes.calls[0].phone = "0901\x00234"
    changes.extensions[0].user_agent = "Zoiper\x00"
    changes.crm_events[0].params["userfield"] = "a\x00b"
    writer = make_writer()
    writer.submit(changes)
    assert writer.flush(5)
    assert writer.status().rejected == 0
    assert rows("SELECT phone, userfield FROM calls") == [("0901234", "ORDER-42")]
    assert rows("SELECT user_agent FROM extensions") == [("Zoiper",)]
    assert rows("SELECT COUNT(*) FROM outbox") == [(1,)]
