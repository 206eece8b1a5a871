"""What each screen looks like, with fixed data (tests/tui_fake_source.py), a
pinned clock and time zone, and no refresh timer. A change of layout fails
here until the snapshots are updated (pytest --snapshot-update) and the new
SVGs in tests/__snapshots__/ reviewed."""

import time

import pytest

from tui.app import ConnectorApp
from tui.screens.attempt import AttemptScreen
from tui.screens.call_detail import CallDetailScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.delivery_detail import DeliveryDetailScreen
from tui.screens.help import HelpScreen

from tui_fake_source import NOW, FakeSource, UnreachableSource
from tui_harness import wait_for

SIZE = (150, 42)


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def app(mode="dashboard", source=None, theme="textual-dark"):
    return ConnectorApp(source or FakeSource(), refresh=0, clock=lambda: NOW, start_mode=mode, theme=theme)


async def settled(pilot, screen_type=None):
    """Until the screen shows its data and the status bar its health."""
    a = pilot.app
    await wait_for(pilot, lambda: (a.health_loads and getattr(a.screen, "loads", 0) and
                                   (screen_type is None or isinstance(a.screen, screen_type))),
                   what="the screen showing its data")
    await pilot.pause()


@pytest.mark.parametrize("mode", ["dashboard", "extensions", "calls", "deliveries"])
def test_main_screens(snap_compare, mode):
    assert snap_compare(app(mode), terminal_size=SIZE, run_before=settled)


def test_a_calls_timeline(snap_compare):
    async def open_call(pilot):
        await settled(pilot)
        await pilot.press("down", "down", "enter")  # the answered call
        await settled(pilot, CallDetailScreen)
    assert snap_compare(app("calls"), terminal_size=SIZE, run_before=open_call)


def test_a_delivery_and_its_attempts(snap_compare):
    async def open_delivery(pilot):
        await settled(pilot)
        pilot.app.screen.query_one("#deliveries-table").focus()
        await pilot.press("down", "enter")  # the retrying call log
        await settled(pilot, DeliveryDetailScreen)
    assert snap_compare(app("deliveries"), terminal_size=SIZE, run_before=open_delivery)


def test_replaying_dead_letters_asks_first(snap_compare):
    async def ask(pilot):
        await settled(pilot)
        await pilot.press("down", "down", "down", "R")  # customer globex (acme has two endpoint rows)
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), what="the question")
        await pilot.pause()
    assert snap_compare(app("deliveries"), terminal_size=SIZE, run_before=ask)


def test_an_attempts_request_and_response(snap_compare):
    async def open_attempt(pilot):
        await settled(pilot)
        await pilot.press("down", "down", "enter")  # the answered call
        await settled(pilot, CallDetailScreen)
        await pilot.press("down", "down", "down", "enter")  # the call log's first attempt: HTTP 503
        await settled(pilot, AttemptScreen)
    assert snap_compare(app("calls"), terminal_size=SIZE, run_before=open_attempt)


@pytest.mark.parametrize("mode", ["dashboard", "extensions", "deliveries"])
def test_at_80x24_in_the_light_theme(snap_compare, mode):
    assert snap_compare(app(mode, theme="textual-light"), terminal_size=(80, 24), run_before=settled)


def test_the_keys(snap_compare):
    async def ask(pilot):
        await settled(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), what="the keys' screen")
        await pilot.pause()
    assert snap_compare(app("extensions"), terminal_size=(80, 24), run_before=ask)


def test_the_banner_when_the_connector_cannot_be_read(snap_compare):
    async def failed(pilot):
        await wait_for(pilot, lambda: pilot.app.source_error, what="the read failing")
        pilot.app.retry_in = 4.0  # pinned: the countdown depends on the machine's clock
        await pilot.pause()
    made = app("extensions", UnreachableSource())
    # the first requests fail together: counted as one failure however slow the machine (after 1 s,
    # the default, a late one counted as a second and changed the countdown)
    made.backoff.base = made.backoff.ceiling = 600.0
    assert snap_compare(made, terminal_size=(80, 24), run_before=failed)
