"""storage.models and storage.migrations on a real SQLite file and a real PostgreSQL database."""

import peewee
import pytest
from playhouse.migrate import migrate as run_ops

from storage import models
from storage.db import open_database
from storage.migrations import (
    MIGRATIONS,
    Migration,
    MigrationError,
    current_version,
    latest_version,
    migrate,
)


@pytest.fixture
def db(backend):
    db = open_database(backend.url)
    yield db
    db.close()


def _schema(db):
    with db.connection_context():  # SQLite's own tables aside
        return {table: (sorted((c.name, c.data_type.upper(), c.null, c.primary_key)
                               for c in db.get_columns(table)),
                        sorted((tuple(i.columns), i.unique) for i in db.get_indexes(table)))
                for table in db.get_tables() if not table.startswith("sqlite_")}


def test_fresh_database_is_migrated_and_rerun_is_a_no_op(db):
    assert current_version(db) == 0
    assert migrate(db) == latest_version()
    assert migrate(db) == latest_version()
    with db.connection_context():
        assert db.execute_sql("SELECT COUNT(*) FROM schema_version").fetchone()[0] == latest_version()
    assert db.is_closed()  # migrate() leaves no connection open
    assert {"calls", "extensions", "outbox", "delivery_attempts", "schema_version"} <= set(
        db.get_tables())


def test_migrations_produce_exactly_the_models(tmp_path, backend, db):
    """Fails when storage/models.py changes without a migration."""
    migrate(db)
    reference = open_database(backend.another(tmp_path).url, bind=False)
    with reference.bind_ctx(models.MODELS), reference.connection_context():
        reference.create_tables(models.MODELS)
    assert _schema(db) == _schema(reference)
    reference.close()


def test_outbox_ids_are_never_reused(backend, db):
    migrate(db)
    if backend.is_postgres:  # BIGSERIAL: a sequence never hands out a value twice
        assert backend.rows("SELECT data_type, column_default FROM information_schema.columns "
                            "WHERE table_name = 'outbox' AND column_name = 'id'") == [
            ("bigint", "nextval('outbox_id_seq'::regclass)")]
    else:
        assert "AUTOINCREMENT" in backend.rows("SELECT sql FROM sqlite_master WHERE name = 'outbox'")[0][0]


def test_a_newer_database_is_refused(db):
    migrate(db)
    with db.connection_context():
        db.execute_sql(f"INSERT INTO schema_version VALUES ({latest_version() + 1}, 'from the future', 0)")
    with pytest.raises(MigrationError, match=f"version {latest_version() + 1}.*only knows up to version "
                                             f"{latest_version()}"):
        migrate(db)


def _add_note(db, migrator):
    run_ops(migrator.add_column("calls", "note", peewee.TextField(default="")))


def test_a_v2_migration_adds_a_column_to_an_existing_v1_database(db):
    migrate(db, MIGRATIONS[:1])
    with db.connection_context():
        db.execute_sql("INSERT INTO calls (callid, node, direction, state, phone, extension, "
                       "domain, extensions, started_at, answered_at, ended_at, calldate, "
                       "status, hangup_cause, duration, billsec, recording, recordings, "
                       "userfield, legs, params, created_at, updated_at) VALUES ('c1', '', "
                       "'inbound', 'ended', '', '', '', '[]', 0, 0, 0, '', '', '', 0, 0, '', "
                       "'[]', '', '[]', '{}', 0, 0)")
    v2 = MIGRATIONS[:1] + (Migration(2, "call note", _add_note),)
    assert migrate(db, v2) == 2
    assert migrate(db, v2) == 2
    with db.connection_context():
        assert db.execute_sql("SELECT callid, note FROM calls").fetchall() == [("c1", "")]
    with pytest.raises(MigrationError, match="version 2"):
        migrate(db, MIGRATIONS[:1])  # the old code refuses the upgraded database


def test_a_failing_migration_leaves_the_previous_version(db):
    def broken(db, migrator):
        db.execute_sql("CREATE TABLE half_done (x INTEGER)")
        db.execute_sql("THIS IS NOT SQL")

    migrate(db, MIGRATIONS[:1])
    with pytest.raises(MigrationError, match="migration 2"):
        migrate(db, MIGRATIONS[:1] + (Migration(2, "broken", broken),))
    assert current_version(db) == 1
    assert "half_done" not in db.get_tables()


def test_migrations_must_be_numbered_in_order(db):
    with pytest.raises(MigrationError, match="1..N"):
        migrate(db, (Migration(2, "skips one", _add_note),))


def test_processes_migrating_at_once_apply_each_migration_once(backend):
    """Two connectors starting together on one database: the write lock
    (SQLite) or the advisory lock (PostgreSQL) lets one migrate, the other
    finds the work done."""
    from gevent.threadpool import ThreadPool

    databases = [open_database(backend.url, bind=False) for _ in range(3)]
    pool = ThreadPool(3)
    try:
        results = [pool.spawn(migrate, db) for db in databases]
        assert [r.get(timeout=30) for r in results] == [latest_version()] * 3
    finally:
        pool.kill()
    assert backend.rows("SELECT version FROM schema_version ORDER BY version") == [
        (m.version,) for m in MIGRATIONS]


def test_v5_keeps_the_attempts_recorded_before_it_without_a_request(db):
    """Attempts written by a v4 connector have no stored request (NULL: the
    status API says so rather than rebuild one) and their rows no endpoint."""
    from esl_connector.delivery.admin import get_delivery

    migrate(db, MIGRATIONS[:4])
    with db.connection_context():
        db.execute_sql("INSERT INTO outbox (event_id, event_type, callid, extension, domain, params, "
                       "occurred_at, created_at, status, attempts, next_attempt_at, last_error, "
                       "customer, replayed_at) VALUES ('e1', 'incoming_call', 'c1', '101', 'd1', "
                       "'{}', 1, 1, 'dead', 1, 0, 'HTTP 400', 'acme', 0)")
        db.execute_sql("INSERT INTO delivery_attempts (outbox_id, at, url, status_code, latency_ms, "
                       "error, response_excerpt) VALUES (1, 2, 'http://crm/x?secret=***', 400, 3, '', 'no')")
    assert migrate(db, MIGRATIONS[:5]) == 5
    detail = get_delivery(db, 1)
    assert detail.event.endpoint == "" and detail.event.status == "dead"
    assert [(a.status_code, a.request) for a in detail.attempts] == [(400, None)]
