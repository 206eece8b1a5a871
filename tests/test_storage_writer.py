"""StorageWriter on real SQLite files: transactions, collapsing, order, outages."""

import itertools
import logging
import sqlite3
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
def path(tmp_path):
    return str(tmp_path / "w.db")


@pytest.fixture
def db(path):
    db = open_database(path)
    migrate(db)
    return db


@pytest.fixture
def make_writer(db):
    writers = []

    def make(**kwargs):
        kwargs.setdefault("commit_window", 0.05)
        kwargs.setdefault("retry_initial", 0.01)
        kwargs.setdefault("retry_max", 0.05)
        writer = StorageWriter(kwargs.pop("database", db), **kwargs)
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


def rows(path, sql):
    """Read with a separate connection, as another process would."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        gevent.sleep(0.005)


def test_a_call_and_its_outbox_rows_commit_together(make_writer, path):
    writer = make_writer()
    writer.submit(call_changes("c1", events=(INCOMING_CALL, CALL_LOG)))
    assert writer.flush(5)
    assert rows(path, "SELECT callid, state FROM calls") == [("c1", "ringing")]
    assert rows(path, "SELECT callid, event_type, status, attempts FROM outbox ORDER BY id") == [
        ("c1", INCOMING_CALL, "pending", 0), ("c1", CALL_LOG, "pending", 0)]
    ids = rows(path, "SELECT event_id FROM outbox")
    assert all(len(i) == 32 for (i,) in ids) and len(set(ids)) == 2
    status = writer.status()
    assert (status.commits, status.changes_written, status.events_written) == (1, 1, 2)
    assert status.queued_changes == 0 and status.last_commit_at > 0


def test_failure_mid_transaction_leaves_neither_then_retries_once(make_writer, path,
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
    assert rows(path, "SELECT COUNT(*) FROM calls") == [(0,)]
    assert rows(path, "SELECT COUNT(*) FROM extensions") == [(0,)]
    assert writer.status().queued_changes == 1
    assert "injected failure" in writer.status().last_error
    assert writer.flush(5)  # flush retries at once, without waiting for the backoff
    assert rows(path, "SELECT COUNT(*) FROM calls") == [(1,)]
    assert rows(path, "SELECT COUNT(*) FROM outbox") == [(1,)]
    assert writer.status().last_error == ""


def test_bad_data_rejects_only_the_change_that_carries_it(db, make_writer, path):
    with db.connection_context():  # a constraint on the outbox: not a transient error
        db.execute_sql("CREATE TRIGGER no_events BEFORE INSERT ON outbox "
                       "BEGIN SELECT RAISE(ABORT, 'rejected by trigger'); END")
    writer = make_writer(commit_window=10)
    writer.submit(Changes(extensions=[ExtensionRecord("102", "d1", IN_CALL)]))
    writer.submit(call_changes("c1"))
    assert writer.flush(5)
    assert rows(path, "SELECT extension FROM extensions") == [("102",)]
    assert rows(path, "SELECT COUNT(*) FROM calls") == [(0,)]  # not without its event
    assert writer.status().rejected == 1


def test_versions_collapse_to_the_latest_within_a_batch(db, make_writer, path):
    writer = make_writer(commit_window=10)  # only flush() commits
    writer.submit(call_changes("c1", "ringing"))
    writer.submit(call_changes("c1", "active", events=()))
    writer.submit(call_changes("c1", "ended", events=(CALL_LOG,), ext="102"))
    assert writer.flush(5)
    status = writer.status()
    assert (status.commits, status.changes_written) == (1, 3)
    assert status.rows_written == 1 + 2 + 2  # one call, two extensions, two events
    assert rows(path, "SELECT state, extension, extensions FROM calls") == [
        ("ended", "102", '["102"]')]
    with db.connection_context():  # click-to-call's params must survive later upserts
        db.execute_sql("UPDATE calls SET params = '{\"order\":\"42\"}'")
    created = rows(path, "SELECT created_at FROM calls")
    writer.submit(call_changes("c1", "ended", events=()))
    assert writer.flush(5)
    assert rows(path, "SELECT params FROM calls") == [('{"order":"42"}',)]
    assert rows(path, "SELECT created_at FROM calls") == created


def test_outbox_ids_follow_submit_order_across_batches(make_writer, path):
    writer = make_writer()
    order = []
    for i in range(30):
        callid = f"c{i % 7}"
        writer.submit(call_changes(callid, events=(INCOMING_CALL, CALL_LOG)))
        order += [(callid, INCOMING_CALL), (callid, CALL_LOG)]
        if i % 10 == 9:
            assert writer.flush(5)
    assert writer.flush(5)
    assert rows(path, "SELECT callid, event_type FROM outbox ORDER BY id") == order


def test_max_batch_commits_without_waiting_for_the_window(make_writer, path):
    commits = []
    writer = make_writer(commit_window=30, max_batch=5, on_commit=commits.append)
    seqs = [writer.submit(call_changes(f"c{i}")) for i in range(5)]
    wait_until(lambda: commits)
    assert (commits[0].first_seq, commits[0].last_seq, commits[0].events) == (
        seqs[0], seqs[-1], 5)
    assert rows(path, "SELECT COUNT(*) FROM calls") == [(5,)]


def test_full_disk_keeps_everything_queued_and_commits_it_exactly_once(
        db, make_writer, path, caplog):
    with db.connection_context():
        pages = db.execute_sql("PRAGMA page_count").fetchone()[0]
    db.pragma("max_page_count", pages, permanent=True)  # every new connection gets it
    db.close()
    writer = make_writer()
    for i in range(40):
        writer.submit(call_changes(f"c{i}", padding="x" * 2000))
    with caplog.at_level(logging.INFO, logger="storage"):
        wait_until(lambda: writer.status().failures >= 3)
        status = writer.status()
        assert "database or disk is full" in status.last_error
        assert status.queued_changes == 40 and status.failing_since > 0
        assert rows(path, "SELECT COUNT(*) FROM calls") == [(0,)]

        db.pragma("max_page_count", 1_000_000, permanent=True)  # "free some space"
        db.close()
        assert writer.flush(5)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, errors  # one clear error, not one per retry
    assert "cannot write to sqlite:" in errors[0] and "40 changes waiting" in errors[0]
    assert any("writing to" in r.getMessage() and "again" in r.getMessage()
               for r in caplog.records if r.levelno == logging.WARNING)
    assert rows(path, "SELECT COUNT(*), COUNT(DISTINCT callid) FROM calls") == [(40, 40)]
    assert rows(path, "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM outbox") == [(40, 40)]
    assert writer.status().queued_changes == 0 and writer.status().failing_since == 0


def test_locked_database_neither_blocks_submit_nor_the_hub(path, make_writer):
    db = open_database(path, busy_timeout=0.3)
    migrate(db)
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    writer = make_writer(database=db, retry_initial=0.05, retry_max=0.1)
    ticks = []
    ticker = gevent.spawn(lambda: [ticks.append(time.monotonic()) or gevent.sleep(0.01)
                                   for _ in iter(int, 1)])
    started = time.monotonic()
    for i in range(500):
        writer.submit(call_changes(f"c{i}"))
    assert time.monotonic() - started < 0.5  # no I/O on the caller's greenlet
    wait_until(lambda: "locked" in writer.status().last_error)
    ticker.kill()
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert gaps and max(gaps) < 0.2  # the hub ran while the writer waited for the lock
    locker.execute("ROLLBACK")
    locker.close()
    assert writer.flush(5)
    assert rows(path, "SELECT COUNT(*) FROM calls") == [(500,)]


def test_a_concurrent_reader_sees_committed_data_and_does_not_block_the_writer(
        make_writer, path):
    writer = make_writer()
    reader = sqlite3.connect(path, isolation_level=None)
    writer.submit(call_changes("c1"))
    assert writer.flush(5)
    reader.execute("BEGIN")
    assert reader.execute("SELECT callid FROM calls").fetchall() == [("c1",)]
    writer.submit(call_changes("c2"))
    assert writer.flush(5)  # WAL: a reader's open transaction does not block commits
    assert reader.execute("SELECT COUNT(*) FROM calls").fetchall() == [(1,)]  # its snapshot
    reader.execute("COMMIT")
    assert reader.execute("SELECT COUNT(*) FROM calls").fetchall() == [(2,)]
    reader.close()


def test_stop_flushes_and_submit_of_nothing_is_ignored(db, path):
    writer = StorageWriter(db, commit_window=30)
    writer.start()
    assert writer.submit(Changes()) == 0
    writer.submit(call_changes("c1"))
    assert writer.stop(timeout=5)
    assert not writer.running and not writer.status().running
    assert rows(path, "SELECT COUNT(*) FROM outbox") == [(1,)]


def test_inline_mode_writes_on_the_writer_greenlet(make_writer, path):
    writer = make_writer(use_threadpool=False)
    writer.submit(call_changes("c1"))
    assert writer.flush(5)
    assert rows(path, "SELECT COUNT(*) FROM calls") == [(1,)]
    assert writer.status().in_threadpool is False


def test_group_commit_commits_at_once_when_idle_and_batches_what_arrives_during_a_commit(
        db, path, monkeypatch):
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
    writer = StorageWriter(db, use_threadpool=False)   # default commit_window
    writer.start()
    try:
        writer.submit(call_changes("c0"))
        assert entered.wait(5), "the first change was not written without a flush"
        for n in range(1, 6):
            writer.submit(call_changes(f"c{n}"))
        release.set()
        wait_until(lambda: writer.status().changes_written == 6)
        assert writer.status().commits == 2
        assert rows(path, "SELECT COUNT(*) FROM calls") == [(6,)]
    finally:
        writer.stop(timeout=2)
