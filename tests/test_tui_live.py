"""The TUI against a real connector: the demo's simulator, connector and CRM
receivers run in a subprocess (tests/tui_backend.py); the App runs here under
Textual's Pilot and reads the connector's status API over HTTP."""

import pytest
from textual.widgets import Label

from tui.app import ConnectorApp
from tui.client import StatusClient
from tui.screens.call_detail import CallDetailScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.deliveries import DeliveriesScreen
from tui.screens.delivery_detail import DeliveryDetailScreen
from tui.widgets.info_panel import InfoPanel
from tui.widgets.status_bar import StatusBar

from tui_harness import cells, rows, synchronous, wait_for, wait_sync

SIZE = (150, 45)


@pytest.fixture
def backend(tui_backend):
    return tui_backend


def make_app(backend, mode="dashboard", token=None):
    return ConnectorApp(StatusClient(backend.api, token or backend.token), refresh=0.2, start_mode=mode)


async def loaded(pilot, screen_type=None, at_least=1):
    app = pilot.app
    await wait_for(pilot, lambda: (screen_type is None or isinstance(app.screen, screen_type))
                   and getattr(app.screen, "loads", 0) >= at_least, what="the screen's data")
    return app.screen


@synchronous
async def test_dashboard_shows_health_freeswitch_extensions_and_calls_per_minute(backend):
    backend.click_to_call("102")
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        calls = screen.query_one("#metric-calls").query_one(Label)
        await wait_for(pilot, lambda: str(calls.render()).endswith(" 1 in 30 min"), what="the call counted")
        webhooks = screen.query_one("#metric-attempts").query_one(Label)
        await wait_for(pilot, lambda: not str(webhooks.render()).endswith(" 0 in 30 min"), what="webhooks sent")
        fs = screen.query_one("#card-freeswitch", InfoPanel)
        assert "Connected: yes" in fs.text and "Version: 1.10.12-release" in fs.text
        extensions = screen.query_one("#card-extensions", InfoPanel).text
        assert "Total: 4" in extensions and "Offline: 0" in extensions
        customers = rows(screen.query_one("#dashboard-customers"))
        assert set(customers) == {"demo", "flaky"}
        await wait_for(pilot, lambda: app.health_loads, what="health")
        bar = screen.query_one(StatusBar).text
        assert "● ok" in bar and "FreeSWITCH 1.10.12" in bar and backend.api in bar


@synchronous
async def test_a_click_to_call_shows_in_calls_with_its_timeline(backend):
    callid = backend.click_to_call("101", userfield="ORDER-7")
    app = make_app(backend, "calls")
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        table = screen.query_one("#calls-table")
        await wait_for(pilot, lambda: callid in rows(table) and cells(table, callid)[3] == "ended",
                       timeout=15, what="the call, ended")
        row = cells(table, callid)
        assert row[1] == callid[:8] and row[2] == "click2call" and row[5] == "101" and row[9] == "ORDER-7"
        table.move_cursor(row=table.get_row_index(callid))
        table.focus()
        await pilot.press("enter")
        detail = await loaded(pilot, CallDetailScreen)
        timeline = detail.query_one("#call-timeline")
        await wait_for(pilot, lambda: [r[1] for r in rows(timeline).values() if not r[1].startswith(" ")] == [
            "outgoing_call", "call_answered"] and all(r[3] != "pending" for r in rows(timeline).values()),
            timeout=10, what="both events delivered")
        assert [r[3] for r in rows(timeline).values()] == ["delivered", "HTTP 200", "delivered", "HTTP 200"]
        await pilot.press("enter")  # the first event: its delivery
        delivery = await loaded(pilot, DeliveryDetailScreen)
        assert "outgoing_call" in delivery.query_one("#delivery-info", InfoPanel).text
        assert [c[1] for c in rows(delivery.query_one("#delivery-attempts")).values()] == ["HTTP 200"]
        await pilot.press("escape", "escape")
        await wait_for(pilot, lambda: app.screen is screen, what="back on the calls")
        await pilot.press("a")  # in progress only: this call is over
        await wait_for(pilot, lambda: callid not in rows(table), what="the ended call hidden")


@synchronous
async def test_extensions_show_presence(backend):
    app = make_app(backend, "extensions")
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        table = rows(screen.query_one("#extensions-table"))
        assert sorted(r[0] for r in table.values()) == backend.extensions
        assert all(r[2] in ("idle", "ringing", "in_call") and "sip:" in r[4] for r in table.values()), table
        assert "4 extensions" in str(screen.query_one("#extensions-summary").render())


@synchronous
async def test_a_dead_letter_is_sent_again_from_the_tui(backend):
    backend.click_to_call("103", "flaky")  # customer flaky: its CRM answers 400, a dead letter at once
    dead = wait_sync(lambda: backend.get("/deliveries", status="dead", customer="flaky")["deliveries"],
                     what="a dead letter")[0]
    app = make_app(backend, "deliveries")
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        await pilot.press("s")  # filter: dead letters
        table = screen.query_one("#deliveries-table")
        await wait_for(pilot, lambda: screen.status_filter == "dead" and str(dead["id"]) in rows(table)
                       and all(r[1] == "dead" for r in rows(table).values()), what="the dead letters")
        table.move_cursor(row=table.get_row_index(str(dead["id"])))
        table.focus()
        before = backend.attempts(dead["id"])
        await pilot.press("r")
        await wait_for(pilot, lambda: backend.attempts(dead["id"]) == before + 1, what="one more attempt")
        endpoints = screen.query_one("#delivery-endpoints")
        await wait_for(pilot, lambda: [(r[1], r[4]) for r in rows(endpoints).values() if r[1] == "flaky"] == [
            ("flaky", "100.0%")], what="the flaky endpoint's error rate")


@synchronous
async def test_every_dead_letter_of_a_customer_is_replayed_after_a_yes(backend):
    backend.click_to_call("104", "flaky")
    wait_sync(lambda: len(backend.get("/deliveries", status="dead", customer="flaky")["deliveries"]) >= 2,
              what="dead letters")
    app = make_app(backend, "deliveries")
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        customers = screen.query_one("#delivery-customers")
        await wait_for(pilot, lambda: "flaky" in rows(customers), what="customer flaky")
        customers.move_cursor(row=customers.get_row_index("flaky"))
        dead = backend.get("/deliveries", status="dead", customer="flaky")["deliveries"]
        tried = {d["id"]: backend.attempts(d["id"]) for d in dead}
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is screen, what="the question gone")
        assert {d: backend.attempts(d) for d in tried} == tried  # no: nothing sent
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await wait_for(pilot, lambda: all(backend.attempts(d) == n + 1 for d, n in tried.items()),
                       what="every one sent again")


@synchronous
async def test_the_status_bar_says_why_the_connector_cannot_be_read(backend):
    app = make_app(backend, token="wrong-token-0123456789")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.source_error, what="an error")
        assert app.source_error == "HTTP 401 unauthorized: a valid bearer token is required"
        assert app.source_error in app.screen.query_one(StatusBar).text
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    app = ConnectorApp(StatusClient(closed), refresh=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.source_error, what="an error")
        assert app.source_error == f"cannot reach the connector at {closed}: connection refused"
        app.source_error = ""
        await pilot.press("4")  # another screen: it says the same, and keeps trying
        await wait_for(pilot, lambda: isinstance(app.screen, DeliveriesScreen) and app.source_error,
                       what="the error again")
        assert app.source_error.startswith("cannot reach") and app.screen.loads == 0
