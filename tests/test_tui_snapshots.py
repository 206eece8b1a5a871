"""What each screen looks like, with fixed data (tests/tui_fake_source.py), a
pinned clock and time zone, and no refresh timer. A change of layout fails
here until the snapshots are updated (pytest --snapshot-update) and the new
SVGs in tests/__snapshots__/ reviewed."""

import time

import pytest

from tui.app import ConnectorApp
from tui.screens.call_detail import CallDetailScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.delivery_detail import DeliveryDetailScreen

from tui_fake_source import NOW, FakeSource

SIZE = (150, 42)


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def app(mode="dashboard"):
    return ConnectorApp(FakeSource(), refresh=0, clock=lambda: NOW, start_mode=mode)


async def settled(pilot, screen_type=None):
    """Until the screen shows its data and the status bar its health."""
    a = pilot.app
    for _ in range(200):
        if (a.health_loads and getattr(a.screen, "loads", 0) and
                (screen_type is None or isinstance(a.screen, screen_type))):
            await pilot.pause()
            return
        await pilot.pause(0.02)
    raise AssertionError("the screen never showed its data")


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
        await pilot.press("down", "R")  # customer globex
        for _ in range(100):
            if isinstance(pilot.app.screen, ConfirmScreen):
                break
            await pilot.pause(0.02)
        await pilot.pause()
    assert snap_compare(app("deliveries"), terminal_size=SIZE, run_before=ask)
