"""Writing one ``Batch`` in one transaction: portable upserts and inserts.

Runs on whatever thread the caller chooses (the writer uses a one-thread
pool); it only touches the connection of that thread.
"""

from __future__ import annotations

import peewee

from .models import Call, Extension, OutboxEvent
from .rows import CALL_FIELDS, EXTENSION_FIELDS, Batch

# Bound parameters per statement, below SQLite's 32766 (3.32+) and PostgreSQL's 65535.
_MAX_PARAMS = 8000

_CALL_UPDATE = [getattr(Call, n) for n in CALL_FIELDS if n != "callid"] + [Call.updated_at]
_EXTENSION_UPDATE = [getattr(Extension, n) for n in EXTENSION_FIELDS
                     if n not in ("node", "domain", "extension")]


def _char_limits(model) -> tuple[tuple[str, int], ...]:
    return tuple((name, f.max_length) for name, f in model._meta.fields.items()
                 if isinstance(f, peewee.CharField) and f.max_length)


# PostgreSQL enforces VARCHAR(n) (SQLite ignores it) and its text cannot hold
# NUL: such a value, often caller-controlled (a caller id), would fail its
# whole change and lose its CRM events. It is cut to the column's size and
# its NULs dropped instead, on both backends alike. (JSON columns escape NUL.)
_LIMITS = {model: _char_limits(model) for model in (Call, Extension, OutboxEvent)}

# Errors that say the database cannot be written right now (disk full, locked,
# server down, connection lost): the batch is kept and retried as it is.
TRANSIENT_ERRORS = (peewee.OperationalError, peewee.InterfaceError, peewee.InternalError)


def write_batch(db: peewee.Database, batch: Batch) -> None:
    """Write ``batch`` in one transaction: all of it is committed or none."""
    db.connect(reuse_if_open=True)
    try:
        with db.atomic():
            _upsert_calls(db, _fit(Call, batch.calls))
            _upsert_extensions(db, _fit(Extension, batch.extensions))
            _insert_events(db, _fit(OutboxEvent, batch.events))
    except BaseException:
        db.close()  # a fresh connection for the retry (the old one may be dead)
        raise


def close_connection(db: peewee.Database) -> None:
    if not db.is_closed():
        db.close()


def _fit(model, rows: list[dict]) -> list[dict]:
    limits = _LIMITS[model]
    for row in rows:
        for name, value in row.items():
            if isinstance(value, str) and "\x00" in value:
                row[name] = value.replace("\x00", "")
        for name, size in limits:
            value = row.get(name)
            if isinstance(value, str) and len(value) > size:
                row[name] = value[:size]
    return rows


def _chunks(rows: list[dict]):
    if not rows:
        return
    size = max(1, _MAX_PARAMS // len(rows[0]))
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _upsert_calls(db: peewee.Database, rows: list[dict]) -> None:
    # created_at and params are not in the update list: kept from the first
    # insert, and params belongs to click-to-call, not to the call tracker.
    for chunk in _chunks(rows):
        (Call.insert_many(chunk)
         .on_conflict(conflict_target=[Call.callid], preserve=_CALL_UPDATE)
         .execute(db))


def _upsert_extensions(db: peewee.Database, rows: list[dict]) -> None:
    for chunk in _chunks(rows):
        (Extension.insert_many(chunk)
         .on_conflict(conflict_target=[Extension.node, Extension.domain, Extension.extension],
                      preserve=_EXTENSION_UPDATE)
         .execute(db))


def _insert_events(db: peewee.Database, rows: list[dict]) -> None:
    # A retry after an ambiguous commit (connection lost during COMMIT) must
    # not duplicate an event: a clash on event_id is a no-op update, while
    # any other constraint still fails (unlike INSERT OR IGNORE).
    for chunk in _chunks(rows):
        (OutboxEvent.insert_many(chunk)
         .on_conflict(conflict_target=[OutboxEvent.event_id], preserve=[OutboxEvent.event_id])
         .execute(db))
