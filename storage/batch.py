"""Writing one ``Batch`` in one transaction: portable upserts and inserts
(compiled once, ``statements``).

Runs on whatever thread the caller chooses (the writer uses a one-thread
pool); it only touches the connection of that thread.
"""

from __future__ import annotations

from contextlib import contextmanager, suppress
from operator import gt, itemgetter

import peewee

from .models import Call, Extension, OutboxEvent
from .rows import CALL_FIELDS, EXTENSION_FIELDS, OUTBOX_COLUMNS, Batch
from .statements import Upsert

_CALL_UPDATE = [n for n in CALL_FIELDS if n != "callid"] + ["updated_at"]
_EXTENSION_UPDATE = [n for n in EXTENSION_FIELDS if n not in ("node", "domain", "extension")]


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
        with _transaction(db):
            _upsert_calls(db, _fit(Call, batch.calls))
            _upsert_extensions(db, _fit(Extension, batch.extensions))
            _insert_events(db, _fit(OutboxEvent, batch.events))
    except BaseException:
        db.close()  # a fresh connection for the retry (the old one may be dead)
        raise


@contextmanager
def _transaction(db: peewee.Database):
    """BEGIN ... COMMIT, or ROLLBACK on any error, raising the error itself.

    Unlike ``db.atomic()``, a failing ROLLBACK never replaces the error: SQLite
    ends the transaction by itself on some errors (a full disk during an
    ``executemany``), and the admin must read "database or disk is full", not
    "cannot rollback - no transaction is active"."""
    db.begin()
    try:
        yield
        db.commit()
    except BaseException:
        with suppress(Exception):
            db.rollback()
        raise


def close_connection(db: peewee.Database) -> None:
    if not db.is_closed():
        db.close()


_is_str = str.__instancecheck__


def _fit(model, rows: list[dict]) -> list[dict]:
    limits = _LIMITS[model]
    sizes, lengths = _SIZES[model], _LENGTHS[model]
    for row in rows:
        # Both checks scan a row in C first; nearly every row passes untouched.
        if "\x00" in "".join(filter(_is_str, row.values())):
            for name, value in row.items():
                if isinstance(value, str) and "\x00" in value:
                    row[name] = value.replace("\x00", "")
        if _may_exceed(row, lengths, sizes):
            for name, size in limits:
                value = row.get(name)
                if isinstance(value, str) and len(value) > size:
                    row[name] = value[:size]
    return rows


def _may_exceed(row: dict, lengths, sizes: tuple[int, ...]) -> bool:
    """False when every limited column holds a value within its size (True
    also when one is missing or has no length: the exact check decides)."""
    try:
        return any(map(gt, map(len, lengths(row)), sizes))
    except (KeyError, TypeError):
        return True


def _lengths_of(model):
    names = [name for name, _ in _LIMITS[model]]
    if len(names) == 1:
        return lambda row: (row[names[0]],)
    return itemgetter(*names)


_SIZES = {model: tuple(size for _, size in limits) for model, limits in _LIMITS.items()}
_LENGTHS = {model: _lengths_of(model) for model in _LIMITS}


_CALLS = Upsert(Call, (*CALL_FIELDS, "created_at", "updated_at"), conflict=["callid"],
                update=_CALL_UPDATE)
_EXTENSIONS = Upsert(Extension, EXTENSION_FIELDS, conflict=["node", "domain", "extension"],
                     update=_EXTENSION_UPDATE)
# A retry after an ambiguous commit (connection lost during COMMIT) must not
# duplicate an event: a clash on event_id is a no-op update, while any other
# constraint still fails (unlike INSERT OR IGNORE).
_EVENTS = Upsert(OutboxEvent, OUTBOX_COLUMNS, conflict=["event_id"], update=["event_id"])


def _upsert_calls(db: peewee.Database, rows: list[dict]) -> None:
    # created_at and params are not in the update list: kept from the first
    # insert, and params belongs to click-to-call, not to the call tracker.
    _CALLS.execute(db, rows)


def _upsert_extensions(db: peewee.Database, rows: list[dict]) -> None:
    _EXTENSIONS.execute(db, rows)


def _insert_events(db: peewee.Database, rows: list[dict]) -> None:
    _EVENTS.execute(db, rows)
