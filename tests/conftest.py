from gevent import monkey

monkey.patch_all()

import pytest  # noqa: E402

from db_backends import BACKENDS, PostgresServer, PostgresUnavailable, TestDatabase  # noqa: E402


@pytest.fixture(scope="session")
def postgres_server():
    """The PostgreSQL server of this test session (see db_backends)."""
    try:
        server = PostgresServer.from_environment()
        server.check()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path):
    """A fresh, empty database on each backend: SQLite, then real PostgreSQL."""
    server = request.getfixturevalue("postgres_server") if request.param == "postgresql" else None
    database = TestDatabase.create(request.param, tmp_path, server)
    yield database
    database.drop()


@pytest.fixture
def sqlite_database(tmp_path):
    """For the few tests of SQLite's own behaviour (pragmas, file locks, a full disk)."""
    return TestDatabase.create("sqlite", tmp_path)


@pytest.fixture
def postgres_database(postgres_server, tmp_path):
    """For the few tests of PostgreSQL's own behaviour (a lost server, wrong credentials)."""
    database = TestDatabase.create("postgresql", tmp_path, postgres_server)
    yield database
    database.drop()


@pytest.fixture(scope="session")
def tui_backend(tmp_path_factory):
    """The connector side of the TUI tests, in its own process (tests/tui_backend.py)."""
    from tui_harness import start_backend
    made = start_backend(tmp_path_factory.mktemp("tui") / "tui.db")
    yield made
    made.stop()
