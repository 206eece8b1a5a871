"""storage.db: URL parsing, opening SQLite and PostgreSQL, clear errors."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import peewee
import pytest

from storage.db import StorageError, database, describe, open_database, parse_database_url


def test_plain_path_and_sqlite_urls():
    assert parse_database_url("var/connector.db").database == "var/connector.db"
    assert parse_database_url("sqlite:///var/c.db").database == "var/c.db"
    parsed = parse_database_url("sqlite:////var/lib/c.db")
    assert (parsed.kind, parsed.database) == ("sqlite", "/var/lib/c.db")


def test_postgresql_url_is_parsed_and_never_shows_the_password():
    parsed = parse_database_url("postgresql://esl:s%40cret@db.example:5433/cti?sslmode=require")
    assert parsed.kind == "postgresql"
    assert (parsed.host, parsed.port, parsed.user, parsed.database) == (
        "db.example", 5433, "esl", "cti")
    assert parsed.password == "s@cret"
    assert parsed.options == {"sslmode": "require"}
    assert "s@cret" not in str(parsed) and "s@cret" not in repr(parsed)
    assert parse_database_url("postgres://db/cti").kind == "postgresql"


@pytest.mark.parametrize("url", ["", "mysql://db/x", "sqlite://", "postgresql://host"])
def test_bad_urls_are_refused_clearly(url):
    with pytest.raises(StorageError):
        parse_database_url(url)


def test_postgresql_without_driver_says_what_to_install(monkeypatch):
    import storage.db
    monkeypatch.setattr(storage.db, "_importable", lambda name: False)  # as on a host without psycopg
    with pytest.raises(StorageError, match=r"esl-connector\[postgres\]"):
        open_database("postgresql://u:p@127.0.0.1/cti")


def test_open_creates_directory_sets_pragmas_and_binds(tmp_path):
    path = tmp_path / "a" / "b" / "connector.db"
    db = open_database(f"sqlite:///{path}")
    assert path.parent.is_dir()
    assert database.obj is db
    with db.connection_context():
        assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute_sql("PRAGMA synchronous").fetchone()[0] == 1
        assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
        assert db.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert db.is_closed()  # the start-up check leaves no connection behind


def test_unusable_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(StorageError, match="cannot create the database directory"):
        open_database(str(blocker / "connector.db"), bind=False)


READ_ONLY_CHECK = """
import os, sys
from storage import StorageError, open_database
import storage.db, sqlite3, getpass, pwd  # everything imported before dropping privileges
os.setgid(65534); os.setuid(65534)  # nobody: root would ignore the permissions
try:
    open_database(sys.argv[1], bind=False)
except StorageError as exc:
    print(exc); sys.exit(0)
sys.exit("no StorageError")
"""


def test_read_only_directory_is_a_clear_error():
    base = Path(tempfile.mkdtemp(prefix="esl-ro-", dir="/tmp"))
    try:
        base.chmod(0o755)
        ro = base / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        if os.geteuid() == 0:  # drop to an unprivileged user for the check itself
            out = subprocess.run([sys.executable, "-c", READ_ONLY_CHECK, str(ro / "connector.db")],
                                 capture_output=True, text=True, timeout=30,
                                 cwd=Path(__file__).resolve().parents[1])
            assert out.returncode == 0, out.stderr
            assert "writable by user" in out.stdout
        else:
            with pytest.raises(StorageError, match="writable by user"):
                open_database(str(ro / "connector.db"), bind=False)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_unreadable_file_is_a_clear_error(tmp_path):
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="cannot open the SQLite database") as info:
        open_database(str(path), bind=False)
    assert isinstance(info.value.__cause__, peewee.DatabaseError)


def test_postgresql_url_opens_binds_and_passes_options(postgres_database):
    db = open_database(postgres_database.url + "?application_name=esl-test")
    assert database.obj is db and isinstance(db, peewee.PostgresqlDatabase)
    with db.connection_context():
        assert db.execute_sql("SHOW application_name").fetchone()[0] == "esl-test"
        assert db.execute_sql("SELECT current_database()").fetchone()[0] == postgres_database.name
    assert db.is_closed()  # the start-up check leaves no connection behind
    assert describe(db) == f"postgresql://127.0.0.1/{postgres_database.name}"


def test_postgresql_wrong_password_is_a_clear_error_without_the_password(postgres_database):
    parts = urlsplit(postgres_database.url)
    wrong = urlunsplit(parts._replace(netloc=f"esl:not-the-Password-42@{parts.hostname}:{parts.port}"))
    with pytest.raises(StorageError, match="password authentication failed") as info:
        open_database(wrong, bind=False)
    message = str(info.value)
    assert message.startswith("cannot connect to postgresql://esl:***@127.0.0.1:")
    assert "not-the-Password-42" not in message and "credentials are right" in message


def test_postgresql_server_down_is_a_clear_error():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StorageError, match="check that the server is up"):
        open_database(f"postgresql://esl:pw@127.0.0.1:{port}/cti?connect_timeout=2", bind=False)


def test_connecting_from_threads_and_greenlets_at_once_never_deadlocks(backend):
    """The writer and the delivery engine use the database from real threads
    while greenlets (HTTP handlers, tests) connect on the hub's thread."""
    import gevent
    from gevent.threadpool import ThreadPool

    from storage.db import connected
    db = open_database(backend.url, bind=False)

    def churn(times):
        for _ in range(times):
            with connected(db):
                db.execute_sql("SELECT 1")
        return times

    pool = ThreadPool(2)
    try:
        with gevent.Timeout(30, AssertionError("connect() deadlocked across threads")):
            times = 2000 if backend.kind == "sqlite" else 200  # a PostgreSQL connection costs more
            jobs = [pool.spawn(churn, times) for _ in range(2)]
            greenlets = [gevent.spawn(churn, times) for _ in range(2)]
            assert [j.get() for j in jobs + greenlets] == [times] * 4
    finally:
        pool.kill()
