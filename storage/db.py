"""Opening the database: one late-bound handle, chosen by URL at start-up.

The models are bound to ``database`` (a ``peewee.DatabaseProxy``) at import
time and to a real database only when the application calls
``open_database(url)``, so tests and production pick SQLite or PostgreSQL
without touching the models (the scout pattern).

Accepted URLs::

    /var/lib/esl-connector/connector.db        a plain path means SQLite
    sqlite:///relative/path.db                 three slashes: relative path
    sqlite:////var/lib/esl-connector/c.db      four slashes: absolute path
    postgresql://user:pass@host:5432/dbname    needs esl-connector[postgres]
"""

from __future__ import annotations

import getpass
import importlib
import logging
import os
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import peewee
from playhouse import db_url

log = logging.getLogger(__name__)

database = peewee.DatabaseProxy()

SQLITE_BUSY_TIMEOUT_S = 5.0
POSTGRES_SCHEMES = ("postgres", "postgresql")


class StorageError(Exception):
    """The database cannot be used; the message says what an admin should do."""


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed database URL. ``str()`` never shows the password."""

    kind: str  # "sqlite" | "postgresql"
    database: str  # SQLite file path, or PostgreSQL database name
    host: str = ""
    port: int | None = None
    user: str = ""
    password: str = field(default="", repr=False)
    options: dict = field(default_factory=dict)  # query-string connect options

    def __str__(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite:{self.database}"
        auth = f"{self.user}:***@" if self.password else (f"{self.user}@" if self.user else "")
        port = f":{self.port}" if self.port else ""
        return f"postgresql://{auth}{self.host}{port}/{self.database}"


def parse_database_url(url: str) -> DatabaseURL:
    """Parse a database URL or plain path without any I/O."""
    if not url or not url.strip():
        raise StorageError("no database configured: set a SQLite path or a postgresql:// URL")
    url = url.strip()
    if "://" not in url:
        return DatabaseURL("sqlite", url)
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sqlite":
        path = unquote(urlsplit(url).path[1:])
        if not path:
            raise StorageError(f"{url!r} has no file name; use sqlite:///path/to/file.db")
        return DatabaseURL("sqlite", path)
    if scheme in POSTGRES_SCHEMES:
        return _parse_postgres(url)
    raise StorageError(
        f"unsupported database URL scheme {scheme!r}: use a SQLite path or postgresql://")


def _parse_postgres(url: str) -> DatabaseURL:
    params = db_url.parse(url, unquote_password=True, unquote_user=True)
    name = params.pop("database", "")
    if not name:
        raise StorageError(f"{url.split('@')[-1]!r} has no database name: "
                           "use postgresql://user:password@host/dbname")
    return DatabaseURL(
        "postgresql", name, host=params.pop("host", ""), port=params.pop("port", None),
        user=params.pop("user", ""), password=params.pop("password", ""), options=params)


def open_database(url: str, *, bind: bool = True, check: bool = True,
                  busy_timeout: float = SQLITE_BUSY_TIMEOUT_S) -> peewee.Database:
    """Create the database named by ``url``; bind the models to it (``bind``)
    and prove it can be written (``check``), else raise ``StorageError``.
    ``busy_timeout``: how long a SQLite write waits for another process's lock."""
    parsed = parse_database_url(url)
    if parsed.kind == "sqlite":
        db = _sqlite(parsed, busy_timeout)
    else:
        db = _postgres(parsed)
    db._lock = _native_lock()
    if check:
        _check_writable(db, parsed)
    if bind:
        database.initialize(db)
    log.info("database: %s", parsed)
    return db


def _native_lock():
    """peewee guards connect()/close() with a threading.Lock, which gevent's
    monkey-patching turns into a greenlet lock. The writer and the delivery
    engine use the database from real threads (gevent's threadpool), and a
    greenlet lock contended across threads can miss its wake-up: the main
    thread then waited forever in connect(). The original OS lock is safe:
    it is held only while a connection opens or closes, which never yields."""
    try:
        from gevent.monkey import get_original
    except ImportError:  # pragma: no cover - gevent is a dependency
        return threading.Lock()
    return get_original("threading", "Lock")()


def describe(db: peewee.Database) -> str:
    """A short, password-free name of ``db`` for log and error messages."""
    db = db.obj if isinstance(db, peewee.DatabaseProxy) else db
    if isinstance(db, peewee.SqliteDatabase):
        return f"sqlite:{db.database}"
    host = db.connect_params.get("host", "")
    return f"postgresql://{host}/{db.database}"


def _sqlite(parsed: DatabaseURL, busy_timeout: float) -> peewee.SqliteDatabase:
    path = parsed.database
    if path != ":memory:":
        path = os.path.abspath(os.path.expanduser(path))
        directory = os.path.dirname(path)
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot create the database directory {directory}: {exc.strerror}; "
                f"create it and make it writable by user {getpass.getuser()!r}") from exc
    pragmas = {
        "journal_mode": "wal",
        "synchronous": 1,  # NORMAL: with WAL, durable except the last commits on power loss
        "busy_timeout": int(busy_timeout * 1000),
        "foreign_keys": 1,
    }
    return peewee.SqliteDatabase(path, pragmas=pragmas, timeout=busy_timeout)


def _postgres(parsed: DatabaseURL) -> peewee.PostgresqlDatabase:
    if not any(_importable(name) for name in ("psycopg2", "psycopg")):
        raise StorageError(
            f"{parsed} needs a PostgreSQL driver: install esl-connector[postgres] "
            "(pip install 'esl-connector[postgres]')")
    kwargs = dict(parsed.options)
    for key in ("host", "port", "user", "password"):
        if getattr(parsed, key):
            kwargs[key] = getattr(parsed, key)
    return peewee.PostgresqlDatabase(parsed.database, **kwargs)


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _check_writable(db: peewee.Database, parsed: DatabaseURL) -> None:
    """Open a connection and take the write lock once, so a read-only file or
    directory, a wrong password or a down server fails at start-up."""
    try:
        db.connect(reuse_if_open=True)
        if isinstance(db, peewee.SqliteDatabase):
            db.execute_sql("BEGIN IMMEDIATE")
        else:
            db.execute_sql("BEGIN")
        db.execute_sql("ROLLBACK")
    except (peewee.DatabaseError, sqlite3.Error) as exc:
        raise StorageError(_open_error(parsed, exc)) from exc
    finally:
        if not db.is_closed():
            db.close()


def _open_error(parsed: DatabaseURL, exc: Exception) -> str:
    reason = str(exc).strip() or type(exc).__name__
    if parsed.kind == "sqlite":
        return (f"cannot open the SQLite database {parsed.database}: {reason}; "
                f"check that the file and its directory are writable by user "
                f"{getpass.getuser()!r} (SQLite also creates -wal and -shm files "
                f"next to it) and that the disk is not full")
    return (f"cannot connect to {parsed}: {reason}; check that the server is up, "
            "the database exists and the credentials are right")


def write_transaction(db: peewee.Database):
    """A transaction that reads then writes: on SQLite it takes the write lock
    at BEGIN (IMMEDIATE), so it waits its turn (busy_timeout) instead of
    failing with "database is locked" when its read snapshot is outrun by
    another writer before its first write."""
    if isinstance(db, peewee.SqliteDatabase):
        return db.atomic("IMMEDIATE")
    return db.atomic()


@contextmanager
def connected(db: peewee.Database):
    """Use the calling thread's/greenlet's connection, opening it if needed
    and closing it afterwards only if it was opened here (peewee connections
    are per greenlet under gevent: an unclosed one lingers with its greenlet)."""
    opened = db.is_closed()
    if opened:
        db.connect()
    try:
        yield db
    finally:
        if opened and not db.is_closed():
            db.close()
