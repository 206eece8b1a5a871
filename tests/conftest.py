from gevent import monkey

monkey.patch_all()


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tui_backend(tmp_path_factory):
    """The connector side of the TUI tests, in its own process (tests/tui_backend.py)."""
    from tui_harness import start_backend
    made = start_backend(tmp_path_factory.mktemp("tui") / "tui.db")
    yield made
    made.stop()
