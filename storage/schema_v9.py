"""What migration v9 creates, frozen as it was then (``storage.models`` may
change later; this must not): the outbox tally, the number of outbox rows per
status, customer, endpoint and event type kept by triggers, and the indexes
the status API's queries walk.

The triggers only ever *append* ``delta`` rows (+n for rows entering a key,
-n for rows leaving it; no shared row is updated, so two PostgreSQL
transactions touching several statuses in different orders neither wait for
nor deadlock each other); a read sums them by key; now and then the rows
written so far are folded into one per key. A row's key is its status,
customer, endpoint and event type, and its extension and domain while no
customer is known for it (the status API gives it to the customer owning
the extension today); ``last_at`` is the ``delivered_at`` of the rows added.

SQLite: a trigger per row; every ``FOLD_EVERY``-th tally row folds the ones
before it (in the writer's transaction: SQLite writes one at a time).
PostgreSQL: inserts and deletes come in statements of many rows (the
writer's batches, the purges), one trigger per statement appends one row
per key; a changed status, customer or endpoint is a trigger per row; every
``FOLD_EVERY``-th appending statement folds what is committed, under an
advisory lock that makes another fold meanwhile skip its turn.
"""

from __future__ import annotations

import peewee

FOLD_EVERY = 1000
FOLD_LOCK_KEY = 0x45534C54  # "ESLT": one fold at a time (pg_try_advisory_xact_lock)


class OutboxTally(peewee.Model):
    status = peewee.CharField(max_length=16)
    customer = peewee.CharField(max_length=64)
    endpoint = peewee.TextField()
    event_type = peewee.CharField(max_length=32)
    extension = peewee.CharField()  # "" once the row has a customer
    domain = peewee.CharField()
    delta = peewee.BigIntegerField()
    last_at = peewee.DoubleField(null=True)

    class Meta:
        table_name = "outbox_tally"
        primary_key = False


V9_MODELS = (OutboxTally,)

KEY = "status, customer, endpoint, event_type, extension, domain"
COLUMNS = f"{KEY}, delta, last_at"


def _key_of(row: str) -> str:
    """The tally key of ``row`` (NEW, OLD, or a transition table's alias)."""
    owner = f"CASE WHEN {row}.customer = '' THEN {row}.{{0}} ELSE '' END"
    return (f"{row}.status, {row}.customer, {row}.endpoint, {row}.event_type, "
            f"{owner.format('extension')}, {owner.format('domain')}")


FOLD_SQL = (f"SELECT {KEY}, SUM(delta), MAX(last_at) FROM outbox_tally {{where}} "
            f"GROUP BY {KEY} HAVING SUM(delta) <> 0")

SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER outbox_tally_insert AFTER INSERT ON outbox BEGIN
        INSERT INTO outbox_tally ({COLUMNS}) VALUES ({_key_of('NEW')}, 1, NEW.delivered_at);
    END""",
    f"""CREATE TRIGGER outbox_tally_delete AFTER DELETE ON outbox BEGIN
        INSERT INTO outbox_tally ({COLUMNS}) VALUES ({_key_of('OLD')}, -1, NULL);
    END""",
    # the WHEN filters in SQLite's own code: claims and renewals pay nothing
    f"""CREATE TRIGGER outbox_tally_update AFTER UPDATE OF status, customer, endpoint ON outbox
        WHEN OLD.status IS NOT NEW.status OR OLD.customer IS NOT NEW.customer
             OR OLD.endpoint IS NOT NEW.endpoint BEGIN
        INSERT INTO outbox_tally ({COLUMNS}) VALUES ({_key_of('OLD')}, -1, NULL),
                                                    ({_key_of('NEW')}, 1, NEW.delivered_at);
    END""",
    f"""CREATE TRIGGER outbox_tally_fold AFTER INSERT ON outbox_tally
        WHEN NEW.rowid % {FOLD_EVERY} = 0 BEGIN
        INSERT INTO outbox_tally ({COLUMNS}) {FOLD_SQL.format(where='WHERE rowid <= NEW.rowid')};
        DELETE FROM outbox_tally WHERE rowid <= NEW.rowid;
    END""",
)

POSTGRES_TRIGGERS = (
    f"""CREATE FUNCTION outbox_tally_fold() RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        IF pg_try_advisory_xact_lock({FOLD_LOCK_KEY}) THEN
            WITH gone AS (DELETE FROM outbox_tally RETURNING {COLUMNS})
            INSERT INTO outbox_tally ({COLUMNS})
                SELECT {KEY}, SUM(delta), MAX(last_at) FROM gone GROUP BY {KEY} HAVING SUM(delta) <> 0;
        END IF;
    END $$""",
    "CREATE SEQUENCE outbox_tally_appends",
    f"""CREATE FUNCTION outbox_tally_appended() RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        IF mod(nextval('outbox_tally_appends'), {FOLD_EVERY}) = 0 THEN
            PERFORM outbox_tally_fold();
        END IF;
    END $$""",
    f"""CREATE FUNCTION outbox_tally_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO outbox_tally ({COLUMNS})
            SELECT {_key_of('r')}, COUNT(*), MAX(r.delivered_at) FROM new_rows r GROUP BY 1, 2, 3, 4, 5, 6;
        PERFORM outbox_tally_appended();
        RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION outbox_tally_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO outbox_tally ({COLUMNS})
            SELECT {_key_of('r')}, -COUNT(*), NULL FROM old_rows r GROUP BY 1, 2, 3, 4, 5, 6;
        PERFORM outbox_tally_appended();
        RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION outbox_tally_updated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO outbox_tally ({COLUMNS}) VALUES ({_key_of('OLD')}, -1, NULL),
                                                    ({_key_of('NEW')}, 1, NEW.delivered_at);
        PERFORM outbox_tally_appended();
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER outbox_tally_insert AFTER INSERT ON outbox REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION outbox_tally_inserted()""",
    """CREATE TRIGGER outbox_tally_delete AFTER DELETE ON outbox REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION outbox_tally_deleted()""",
    """CREATE TRIGGER outbox_tally_update AFTER UPDATE OF status, customer, endpoint ON outbox
        FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.customer IS DISTINCT FROM NEW.customer
                           OR OLD.endpoint IS DISTINCT FROM NEW.endpoint)
        EXECUTE FUNCTION outbox_tally_updated()""",
)

# The status API's per-minute attempts (/api/v1/metrics) and per-endpoint
# figures (/api/v1/deliveries/endpoints) read the attempts of a recent window:
# without it, every attempt ever recorded is read. A customer's dead letters
# newest first (the admin's list) walk (customer, status, id) instead of
# sorting every dead row of the customer.
INDEXES = ('CREATE INDEX "delivery_attempts_at" ON "delivery_attempts" ("at")',
           'CREATE INDEX "outbox_customer_status_id" ON "outbox" ("customer", "status", "id")',
           'DROP INDEX "outbox_customer_status"')

FILL = (f"INSERT INTO outbox_tally ({COLUMNS}) "
        f"SELECT {_key_of('r')}, COUNT(*), MAX(r.delivered_at) FROM outbox r GROUP BY 1, 2, 3, 4, 5, 6")
