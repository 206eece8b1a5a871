"""The databases the storage, delivery and connector tests run on: a SQLite
file, and a fresh database on a real PostgreSQL server.

The PostgreSQL server is the one ``ESL_TEST_POSTGRES_URL`` names (CI starts
one with ``tests/pg_server.sh`` and exports it); without it, the test session
starts its own throwaway server with the same script when PostgreSQL's
binaries are installed. With neither, the PostgreSQL variants FAIL with a
message saying what to do: they are never skipped.

Each test gets its own database (``CREATE DATABASE``, dropped afterwards), so
tests see the same empty state on both backends, ids included.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ENV_URL = "ESL_TEST_POSTGRES_URL"
SCRIPT = Path(__file__).resolve().parent / "pg_server.sh"
BACKENDS = ("sqlite", "postgresql")
_names = itertools.count(1)


class PostgresUnavailable(Exception):
    pass


class PostgresServer:
    """A server the tests may create databases on (its URL names a database to
    connect to for that). ``from_environment()`` runs ``pg_server.sh`` when no URL is given."""

    def __init__(self, url: str, directory: str | None = None):
        self.url, self.directory = url, directory

    @classmethod
    def from_environment(cls) -> PostgresServer:
        url = os.environ.get(ENV_URL, "").strip()
        if url:
            return cls(url)
        directory = tempfile.mkdtemp(prefix="esl-test-pg.", dir="/tmp")  # the postgres user must reach it
        done = subprocess.run(["bash", str(SCRIPT), "start", directory], capture_output=True, text=True,
                              timeout=120)
        if done.returncode != 0:
            subprocess.run(["bash", str(SCRIPT), "stop", directory], capture_output=True, timeout=60)
            raise PostgresUnavailable(
                f"the PostgreSQL tests need a server: set {ENV_URL}=postgresql://user:password@host:port/db "
                f"(a role allowed to CREATE DATABASE), or install PostgreSQL's server binaries "
                f"(Debian: apt-get install postgresql) so that tests/pg_server.sh can start one. "
                f"tests/pg_server.sh said: {done.stderr.strip()[-500:]}")
        return cls(done.stdout.strip().splitlines()[-1], directory)

    def check(self) -> None:
        try:
            self.admin("SELECT 1")
        except Exception as exc:
            self.stop()
            where = self.url.rsplit("@", 1)[-1]
            raise PostgresUnavailable(f"the PostgreSQL server for the tests ({where}) does not answer: "
                                      f"{str(exc).strip()}") from exc

    def stop(self) -> None:
        if self.directory:
            subprocess.run(["bash", str(SCRIPT), "stop", self.directory], capture_output=True, timeout=60)

    def url_for(self, name: str) -> str:
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(path=f"/{name}"))

    def admin(self, sql: str) -> None:
        import psycopg2
        conn = psycopg2.connect(self.url)
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(sql)
        finally:
            conn.close()


class TestDatabase:
    """One test's empty database: its URL, and plain SQL through a connection
    of its own (as another process would see the data)."""

    __test__ = False  # not a test class

    def __init__(self, kind: str, url: str, sqlite_path: str = "", server: PostgresServer | None = None,
                 name: str = ""):
        self.kind, self.url, self.sqlite_path = kind, url, sqlite_path
        self.server, self.name = server, name
        self._others: list[TestDatabase] = []

    @classmethod
    def create(cls, kind: str, tmp_path: Path, server: PostgresServer | None = None) -> TestDatabase:
        if kind == "sqlite":
            tmp_path.mkdir(parents=True, exist_ok=True)
            path = str(tmp_path / "test.db")
            return cls(kind, f"sqlite:///{path}", sqlite_path=path)
        name = f"esl_t{os.getpid()}_{next(_names)}"
        server.admin(f'CREATE DATABASE "{name}" STRATEGY = FILE_COPY')  # faster than WAL_LOG here
        return cls(kind, server.url_for(name), server=server, name=name)

    @property
    def is_postgres(self) -> bool:
        return self.kind == "postgresql"

    @property
    def placeholder(self) -> str:
        return "%s" if self.is_postgres else "?"

    def connect(self):
        """A raw DB-API connection in autocommit mode."""
        if self.is_postgres:
            import psycopg2
            conn = psycopg2.connect(self.url)
            conn.autocommit = True
            return conn
        return sqlite3.connect(self.sqlite_path, isolation_level=None)

    def rows(self, sql: str, params=()) -> list[tuple]:
        conn = self.connect()
        try:
            cursor = conn.cursor()
            cursor.execute(sql.replace("?", self.placeholder), params)
            return [tuple(row) for row in cursor.fetchall()] if cursor.description else []
        finally:
            conn.close()

    def execute(self, sql: str, params=()) -> None:
        self.rows(sql, params)

    def another(self, tmp_path: Path) -> TestDatabase:
        """A second empty database of the same kind, dropped with this one."""
        other = TestDatabase.create(self.kind, tmp_path / f"other{len(self._others)}", self.server)
        self._others.append(other)
        return other

    def refuse_connections(self) -> None:
        """As if the server went away: every connection to this database is
        cut, and new ones are refused until ``allow_connections()``."""
        self.server.admin(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
        self.server.admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{self.name}'")

    def allow_connections(self) -> None:
        self.server.admin(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')

    def drop(self) -> None:
        for other in self._others:
            other.drop()
        if self.is_postgres:
            self.server.admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
