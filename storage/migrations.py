"""Schema migrations, from the first version on.

``MIGRATIONS`` is an ordered list; migration N takes a database at version
N-1 to version N. ``migrate(db)`` applies the missing ones, each in its own
transaction together with its ``schema_version`` row, so a failed migration
leaves the database at the previous version. Running it again is a no-op.
A database whose version is newer than the code knows is refused.

A migration is ``apply(db, migrator)`` where ``migrator`` is a
``playhouse.migrate.SchemaMigrator`` for ``db``: use its operations
(``add_column``, ``add_index``...) through ``playhouse.migrate.migrate`` so
the same step runs on SQLite and PostgreSQL. New tables: declare a frozen
copy of the model next to the migration (see ``schema_v1``), never import
``storage.models`` here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import peewee
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as run_operations

from . import schema_v1, schema_v3, schema_v7, schema_v9
from .db import StorageError, connected, describe
from .fields import JSONField

log = logging.getLogger(__name__)

VERSION_TABLE = "schema_version"
_PG_LOCK_KEY = 0x45534C43  # "ESLC": serialises concurrent migrators on PostgreSQL


class MigrationError(StorageError):
    """The schema cannot be brought to the version this code needs."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[peewee.Database, SchemaMigrator], None]


def _add_not_null(db: peewee.Database, migrator: SchemaMigrator, table: str, column: str,
                  field: peewee.Field, default: str) -> None:
    """``ALTER TABLE ... ADD COLUMN ... NOT NULL DEFAULT <default>``: one
    statement on both backends. Not ``migrator.add_column``: on SQLite it makes
    a NOT NULL column by rebuilding the table, and dropping the old table
    cascades (``outbox`` -> every ``delivery_attempts`` row) and resets its
    AUTOINCREMENT sequence (ids handed out again)."""
    field.name = field.column_name = column
    field.constraints = [peewee.SQL(f"DEFAULT {default}")]
    ctx = migrator.make_context()
    ctx.literal("ALTER TABLE ").sql(peewee.Entity(table)).literal(" ADD COLUMN ").sql(field.ddl(ctx))
    db.execute_sql(*ctx.query())


def _v1_initial(db: peewee.Database, migrator: SchemaMigrator) -> None:
    with db.bind_ctx(schema_v1.V1_MODELS):
        db.create_tables(schema_v1.V1_MODELS, safe=False)


def _v2_delivery(db: peewee.Database, migrator: SchemaMigrator) -> None:
    """The delivery engine's columns: the customer an event was planned for
    (listing and replay by customer), when it was last replayed by hand
    (its retry age restarts there) and when it stopped being due; an index
    that walks pending rows in id order."""
    _add_not_null(db, migrator, "outbox", "customer", peewee.CharField(max_length=64), "''")
    _add_not_null(db, migrator, "outbox", "replayed_at", peewee.DoubleField(), "0")
    run_operations(
        migrator.add_column("outbox", "finished_at", peewee.DoubleField(null=True)),
        migrator.add_index("outbox", ("status", "id"), False),
        migrator.add_index("outbox", ("customer", "status"), False),
    )


def _v3_cdrs(db: peewee.Database, migrator: SchemaMigrator) -> None:
    """CDRs from FreeSWITCH: every leg's CDR received (idempotency, and the
    legs still waiting for their call across a restart) and every CDR file
    read from mod_json_cdr's directories (each file is processed once)."""
    with db.bind_ctx(schema_v3.V3_MODELS):
        db.create_tables(schema_v3.V3_MODELS, safe=False)


def _v4_tracker_state(db: peewee.Database, migrator: SchemaMigrator) -> None:
    """Restart recovery: each live call's tracker state, written in the same
    transaction as its outbox rows, and how an ended call's end became known
    (its call log may have been closed at a reconnect with what was known)."""
    _add_not_null(db, migrator, "calls", "end_source", peewee.CharField(max_length=16), "''")
    _add_not_null(db, migrator, "calls", "tracker_state", JSONField(), "'{}'")


def _v5_attempt_requests(db: peewee.Database, migrator: SchemaMigrator) -> None:
    """What went out and where: each delivery attempt's request as sent
    (method, redacted URL and headers, capped scrubbed body; NULL for the
    attempts recorded before), and the CRM endpoint(s) an outbox row is
    delivered to (per-endpoint counts of pending and retrying rows)."""
    run_operations(migrator.add_column("delivery_attempts", "request", JSONField(null=True)))
    # Not migrator.add_column: on SQLite it makes a NOT NULL column by copying the
    # table, and dropping the old outbox would cascade to every delivery attempt.
    # ADD COLUMN ... NOT NULL DEFAULT is plain SQL on both (and no rewrite on PostgreSQL).
    db.execute_sql("ALTER TABLE outbox ADD COLUMN endpoint TEXT NOT NULL DEFAULT ''")


# The name a single [freeswitch] table's node has unless it names itself
# (esl_connector.settings.nodes_config.DEFAULT_NODE): what rows written before
# nodes had names belong to.
V6_FIRST_NODE = "default"


def _v6_nodes(db: peewee.Database, migrator: SchemaMigrator) -> None:
    """Several FreeSWITCH nodes: an extension's presence is per node (the
    same number may exist on two nodes), and a call's ``node`` is the node's
    configured name (it held FreeSWITCH's Core-UUID, which changes at every
    FreeSWITCH restart). Rows from before belong to the node ``default``."""
    run_operations(migrator.add_column("extensions", "node", peewee.CharField(default="", max_length=64)))
    # Plain SQL: the migrator's add_index mistakes a column named "node" for an expression.
    db.execute_sql('DROP INDEX "extensions_domain_extension"')
    db.execute_sql('CREATE UNIQUE INDEX "extensions_node_domain_extension" '
                   'ON "extensions" ("node", "domain", "extension")')
    db.execute_sql('UPDATE "extensions" SET "node" = %s' % db.param, (V6_FIRST_NODE,))
    db.execute_sql('UPDATE "calls" SET "node" = %s' % db.param, (V6_FIRST_NODE,))


def _v7_outbox_claims(db: peewee.Database, migrator: SchemaMigrator) -> None:
    """Several connectors on one database: which process holds an outbox row
    (its delivery instance) and until when (epoch seconds; 0 = nobody), a
    lease that ran out may be taken by another process; and the delivery
    instances alive (each renews its row with its claims)."""
    real = "REAL" if isinstance(db, peewee.SqliteDatabase) else "DOUBLE PRECISION"
    # Plain SQL for the reason given in v5 (no copy of the outbox on SQLite).
    db.execute_sql("ALTER TABLE outbox ADD COLUMN claimed_by TEXT NOT NULL DEFAULT ''")
    db.execute_sql(f"ALTER TABLE outbox ADD COLUMN claim_until {real} NOT NULL DEFAULT 0")
    with db.bind_ctx(schema_v7.V7_MODELS):
        db.create_tables(schema_v7.V7_MODELS, safe=False)


def _v8_outbox_due_walk(db: peewee.Database, migrator: SchemaMigrator) -> None:
    """The due query walks pending rows in id order, past those of customers
    whose endpoints are all busy: ``(status, id, customer)`` instead of
    ``(status, id)`` lets it pass them in the index, without reading each row
    (3x less CPU for a query over a 6,000-row backlog of one busy customer)."""
    run_operations(
        migrator.add_index("outbox", ("status", "id", "customer"), False),
        migrator.drop_index("outbox", "outbox_status_id"),
    )


def _v9_outbox_tally(db: peewee.Database, migrator: SchemaMigrator) -> None:
    """The health answer and the delivery statistics without counting the
    outbox: its rows per status, customer, endpoint and event type, kept by
    triggers whatever changes a row (``schema_v9``), filled here from
    the rows there are; the attempts by time, for the status API's recent
    windows. On PostgreSQL the outbox is locked against writes
    from the triggers' creation to the commit, so no row is counted twice or
    missed while other connectors write."""
    with db.bind_ctx(schema_v9.V9_MODELS):
        db.create_tables(schema_v9.V9_MODELS, safe=False)
    if isinstance(db, peewee.SqliteDatabase):
        triggers = schema_v9.SQLITE_TRIGGERS
    else:
        db.execute_sql('LOCK TABLE "outbox" IN SHARE ROW EXCLUSIVE MODE')
        triggers = schema_v9.POSTGRES_TRIGGERS
    for sql in (*triggers, *schema_v9.INDEXES):
        db.execute_sql(sql)
    db.execute_sql(schema_v9.FILL)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", _v1_initial),
    Migration(2, "delivery: outbox customer, replayed_at, finished_at", _v2_delivery),
    Migration(3, "cdrs: cdr_legs, cdr_files", _v3_cdrs),
    Migration(4, "restart recovery: calls end_source, tracker_state", _v4_tracker_state),
    Migration(5, "delivery: attempts' requests, outbox endpoint", _v5_attempt_requests),
    Migration(6, "nodes: extensions keyed by node, calls' node is its name", _v6_nodes),
    Migration(7, "delivery: outbox claims (claimed_by, claim_until), delivery_instances", _v7_outbox_claims),
    Migration(8, "delivery: outbox index (status, id, customer) for the due query", _v8_outbox_due_walk),
    Migration(9, "status: outbox rows per status kept by triggers (outbox_tally)", _v9_outbox_tally),
)


def latest_version(migrations=MIGRATIONS) -> int:
    return migrations[-1].version if migrations else 0


def current_version(db: peewee.Database) -> int:
    """The schema version of ``db``: 0 for an empty database."""
    with connected(db):
        if not db.table_exists(VERSION_TABLE):
            return 0
        row = db.execute_sql(f'SELECT MAX(version) FROM "{VERSION_TABLE}"').fetchone()
    return int(row[0] or 0)


def migrate(db: peewee.Database, migrations=MIGRATIONS) -> int:
    """Bring ``db`` to the latest version; return the version it is now at."""
    _check_sequence(migrations)
    with connected(db):
        version = current_version(db)
        _refuse_newer(db, version, migrations)
        for migration in migrations:
            if migration.version > version:
                version = _apply(db, migration)
    return version


def _check_sequence(migrations) -> None:
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise MigrationError(f"migrations must be numbered 1..N in order, got {versions}")


def _refuse_newer(db: peewee.Database, version: int, migrations) -> None:
    known = latest_version(migrations)
    if version > known:
        raise MigrationError(
            f"the database {describe(db)} has schema version {version}, but this "
            f"esl-connector only knows up to version {known}: upgrade esl-connector, "
            "or point it at another database (downgrades are not supported)")


def _apply(db: peewee.Database, migration: Migration) -> int:
    started = time.monotonic()
    with _exclusive_transaction(db):
        if current_version(db) >= migration.version:  # another process got there first
            return current_version(db)
        try:
            migration.apply(db, SchemaMigrator.from_database(db))
        except peewee.DatabaseError as exc:
            raise MigrationError(
                f"migration {migration.version} ({migration.name}) failed on "
                f"{describe(db)}: {exc}") from exc
        versions = peewee.Table(VERSION_TABLE, ("version", "name", "applied_at")).bind(db)
        versions.insert(version=migration.version, name=migration.name,
                        applied_at=time.time()).execute()
    log.info("database %s migrated to version %d (%s) in %.0f ms", describe(db),
             migration.version, migration.name, (time.monotonic() - started) * 1000)
    return migration.version


@contextmanager
def _exclusive_transaction(db: peewee.Database):
    if isinstance(db, peewee.SqliteDatabase):
        with db.atomic("IMMEDIATE"):  # take the write lock before reading the version
            yield
        return
    with db.atomic():
        if isinstance(db, peewee.PostgresqlDatabase):
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK_KEY,))
        yield
