"""What migration v9 creates, frozen as it was then (``storage.models`` may
change later; this must not): the outbox tally, the number of outbox rows per
status kept by triggers, and the indexes the status API's queries walk.

SQLite writes one transaction at a time: the tally is one row per status,
which each changed outbox row's trigger adds to. PostgreSQL writes many at
once: triggers only ever *append* ``(status, delta)`` rows (no shared row is
updated, so two transactions touching several statuses in different orders
neither wait for nor deadlock each other); a read sums them; every
``FOLD_EVERY``-th appending statement folds the rows committed so far into one
per status, under an advisory lock that a busy fold makes the others skip.
"""

from __future__ import annotations

import peewee

FOLD_EVERY = 1000  # appending statements between two folds (PostgreSQL)
FOLD_LOCK_KEY = 0x45534C54  # "ESLT": one fold at a time (pg_try_advisory_xact_lock)


class OutboxTally(peewee.Model):
    status = peewee.CharField(max_length=16)
    delta = peewee.BigIntegerField()

    class Meta:
        table_name = "outbox_tally"
        primary_key = False


V9_MODELS = (OutboxTally,)

# A row changes status: the trigger's WHEN filters in the database's own
# code, so the outbox updates that keep the status (claims, renewals) pay nothing.
SQLITE_TRIGGERS = (
    """CREATE TRIGGER outbox_tally_insert AFTER INSERT ON outbox BEGIN
        INSERT INTO outbox_tally (status, delta) SELECT NEW.status, 0
            WHERE NOT EXISTS (SELECT 1 FROM outbox_tally WHERE status = NEW.status);
        UPDATE outbox_tally SET delta = delta + 1 WHERE status = NEW.status;
    END""",
    """CREATE TRIGGER outbox_tally_delete AFTER DELETE ON outbox BEGIN
        UPDATE outbox_tally SET delta = delta - 1 WHERE status = OLD.status;
    END""",
    """CREATE TRIGGER outbox_tally_update AFTER UPDATE OF status ON outbox
        WHEN OLD.status IS NOT NEW.status BEGIN
        INSERT INTO outbox_tally (status, delta) SELECT NEW.status, 0
            WHERE NOT EXISTS (SELECT 1 FROM outbox_tally WHERE status = NEW.status);
        UPDATE outbox_tally SET delta = delta + 1 WHERE status = NEW.status;
        UPDATE outbox_tally SET delta = delta - 1 WHERE status = OLD.status;
    END""",
)

# Inserts and deletes come in statements of many rows (the writer's batches,
# the retention purge): one trigger per statement, one appended row per
# status; a status change is one trigger per row, two appended rows.
POSTGRES_TRIGGERS = (
    f"""CREATE FUNCTION outbox_tally_fold() RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        IF pg_try_advisory_xact_lock({FOLD_LOCK_KEY}) THEN
            WITH gone AS (DELETE FROM outbox_tally RETURNING status, delta)
            INSERT INTO outbox_tally (status, delta)
                SELECT status, SUM(delta) FROM gone GROUP BY status HAVING SUM(delta) <> 0;
        END IF;
    END $$""",
    "CREATE SEQUENCE outbox_tally_appends",
    f"""CREATE FUNCTION outbox_tally_appended() RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        IF mod(nextval('outbox_tally_appends'), {FOLD_EVERY}) = 0 THEN
            PERFORM outbox_tally_fold();
        END IF;
    END $$""",
    """CREATE FUNCTION outbox_tally_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO outbox_tally (status, delta) SELECT status, COUNT(*) FROM new_rows GROUP BY status;
        PERFORM outbox_tally_appended();
        RETURN NULL;
    END $$""",
    """CREATE FUNCTION outbox_tally_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO outbox_tally (status, delta) SELECT status, -COUNT(*) FROM old_rows GROUP BY status;
        PERFORM outbox_tally_appended();
        RETURN NULL;
    END $$""",
    """CREATE FUNCTION outbox_tally_updated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO outbox_tally (status, delta) VALUES (NEW.status, 1), (OLD.status, -1);
        PERFORM outbox_tally_appended();
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER outbox_tally_insert AFTER INSERT ON outbox REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION outbox_tally_inserted()""",
    """CREATE TRIGGER outbox_tally_delete AFTER DELETE ON outbox REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION outbox_tally_deleted()""",
    """CREATE TRIGGER outbox_tally_update AFTER UPDATE OF status ON outbox
        FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION outbox_tally_updated()""",
)

# The status API's per-minute attempts (/api/v1/metrics) and per-endpoint
# figures (/api/v1/deliveries/endpoints) read the attempts of a recent window:
# without it, every attempt ever recorded is read.
# A customer's dead letters newest first (the admin's list) walk
# (customer, status, id) instead of sorting every dead row of the customer.
INDEXES = ('CREATE INDEX "delivery_attempts_at" ON "delivery_attempts" ("at")',
           'CREATE INDEX "outbox_customer_status_id" ON "outbox" ("customer", "status", "id")',
           'DROP INDEX "outbox_customer_status"')

FILL = ('INSERT INTO outbox_tally (status, delta) '
        'SELECT status, COUNT(*) FROM outbox GROUP BY status')
