"""storage.db: URL parsing, opening SQLite, clear errors."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import peewee
import pytest

from storage.db import StorageError, database, open_database, parse_database_url


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


def test_connecting_from_threads_and_greenlets_at_once_never_deadlocks(tmp_path):
    """The writer and the delivery engine use the database from real threads
    while greenlets (HTTP handlers, tests) connect on the hub's thread."""
    import gevent
    from gevent.threadpool import ThreadPool

    from storage.db import connected
    db = open_database(f"sqlite:///{tmp_path / 'shared.db'}", bind=False)

    def churn(times):
        for _ in range(times):
            with connected(db):
                db.execute_sql("SELECT 1")
        return times

    pool = ThreadPool(2)
    try:
        with gevent.Timeout(30, AssertionError("connect() deadlocked across threads")):
            jobs = [pool.spawn(churn, 2000) for _ in range(2)]
            greenlets = [gevent.spawn(churn, 2000) for _ in range(2)]
            assert [j.get() for j in jobs + greenlets] == [2000] * 4
    finally:
        pool.kill()
