"""The TUI against a real connector: the demo's simulator, connector and CRM
receivers run in a subprocess (tests/tui_backend.py); the App runs here under
Textual's Pilot and reads the connector's status API over HTTP."""

import asyncio
import re
import time

import httpx
import pytest
from textual.widgets import Label

from tui.app import ConnectorApp
from tui.client import StatusClient
from tui.screens.attempt import AttemptScreen
from tui.screens.call_detail import CallDetailScreen
from tui.screens.calls import CallsScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.dashboard import DashboardScreen
from tui.screens.deliveries import DeliveriesScreen
from tui.screens.delivery_detail import DeliveryDetailScreen
from tui.screens.extensions import ExtensionsScreen
from tui.screens.help import HelpScreen
from tui.widgets.banner import Banner
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
    before = sum(backend.get("/metrics", minutes=60)["calls_per_minute"])  # other tests' calls
    backend.click_to_call("102")
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        calls = screen.query_one("#metric-calls").query_one(Label)
        await wait_for(pilot, lambda: str(calls.render()).endswith(f" {before + 1}/h"), what="the call counted")
        webhooks = screen.query_one("#metric-attempts").query_one(Label)
        await wait_for(pilot, lambda: not str(webhooks.render()).endswith(" 0/h"), what="webhooks sent")
        fs = screen.query_one("#card-freeswitch", InfoPanel)
        assert "Connected: yes" in fs.text and "Version: 1.10.12-release" in fs.text
        extensions = screen.query_one("#card-extensions", InfoPanel).text
        assert "Total: 4" in extensions and "Offline: 0" in extensions
        customers = rows(screen.query_one("#dashboard-customers"))
        assert set(customers) == {"demo", "flaky"}
        await wait_for(pilot, lambda: app.health_loads, what="health")
        bar = screen.query_one(StatusBar).text
        assert "● ok" in bar and "FreeSWITCH 1.10.12" in bar and backend.api in bar
        assert " ev/s │ " in bar and re.search(r" │ \d+ calls? │ ", bar) and " │ ↻ " in bar
        assert "outbox demo " in bar and " · flaky " in bar and "dead " in bar


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
        assert all(r[2] in ("idle", "ringing", "in_call") and "sip:" in r[8] for r in table.values()), table
        assert {r[0]: r[1] for r in table.values()} == {"101": "demo", "102": "demo", "103": "flaky",
                                                       "104": "flaky"}
        assert "4 extensions" in str(screen.query_one("#extensions-summary").render())


@synchronous
async def test_an_extension_rings_then_talks_then_is_idle_again(backend):
    app = make_app(backend, "extensions")
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        table = screen.query_one("#extensions-table")
        key = next(k for k in rows(table) if k.startswith("102@"))
        today = int(cells(table, key)[6])
        # 102 answers after 40 simulated seconds (2 s here) and talks for 80 (4 s)
        backend.command(do="inbound", ring="102", answer_after=40, talk_time=80)
        ringing = await wait_for(pilot, lambda: cells(table, key)[2] == "ringing" and cells(table, key),
                                 what="102 ringing")
        assert ringing[3] == "0904824242" and ringing[4] == "inbound"
        talking = await wait_for(pilot, lambda: cells(table, key)[2] == "in_call" and cells(table, key),
                                 what="102 in a call")
        assert talking[3] == "0904824242" and talking[5].endswith("s")
        idle = await wait_for(pilot, lambda: cells(table, key)[2] == "idle" and cells(table, key),
                              what="102 idle again")
        assert idle[3:6] == ["-", "-", "-"]
        await wait_for(pilot, lambda: int(cells(table, key)[6]) == today + 1, what="one more call today")
        assert cells(table, key)[7].endswith("%")


@synchronous
async def test_filter_and_sort_the_extensions(backend):
    app = make_app(backend, "extensions")
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        table = screen.query_one("#extensions-table")
        await pilot.press("slash", "f", "l", "a", "k", "y")
        await wait_for(pilot, lambda: sorted(r[0] for r in rows(table).values()) == ["103", "104"],
                       what="flaky's extensions only")
        await pilot.press("enter")  # keep the filter, back to the table
        await wait_for(pilot, lambda: table.has_focus, what="the table focused")
        await loaded(pilot, at_least=screen.loads + 2)  # refreshed twice: still filtered
        assert sorted(r[0] for r in rows(table).values()) == ["103", "104"]
        await pilot.press("slash", "escape")  # cleared
        await wait_for(pilot, lambda: len(rows(table)) == 4, what="every extension again")
        table.focus()
        await pilot.press("o")  # by the first column, the extension
        await wait_for(pilot, lambda: [r[0] for r in rows(table).values()] == ["101", "102", "103", "104"],
                       what="sorted by extension")
        table.move_cursor(row=table.get_row_index(next(k for k in rows(table) if k.startswith("103@"))))
        await pilot.press("O")  # reversed; the cursor stays on 103
        await wait_for(pilot, lambda: [r[0] for r in rows(table).values()] == ["104", "103", "102", "101"],
                       what="sorted by extension, reversed")
        assert table.selected_key.startswith("103@")
        await loaded(pilot, at_least=screen.loads + 2)
        assert table.selected_key.startswith("103@") and table.sort_column == 0 and table.sort_reverse


@synchronous
async def test_every_screen_at_80x24(backend):
    app = make_app(backend)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.resize_terminal(80, 24)
        for key, kind, table_id in (("1", DashboardScreen, "#dashboard-customers"),
                                    ("2", ExtensionsScreen, "#extensions-table"),
                                    ("3", CallsScreen, "#calls-table"), ("4", DeliveriesScreen, "#deliveries-table")):
            await pilot.press(key)
            screen = await loaded(pilot, kind)
            table = screen.query_one(table_id)
            await wait_for(pilot, lambda: table.row_count, what=f"rows in {table_id}")  # noqa: B023
            assert app.size == (80, 24) and table.region.height >= 3 and table.region.right <= 80, table.region
            bar = screen.query_one(StatusBar)
            assert bar.region.height == 2 and bar.region.y == 0
            assert screen.query_one("Footer").region.y == 23


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
        customers = screen.query_one("#delivery-customers")
        flaky_crm = f"flaky {backend.flaky_endpoints[0]}"  # the row of flaky's CRM endpoint
        await wait_for(pilot, lambda: flaky_crm in rows(customers) and rows(customers)[flaky_crm][10] == "100.0%",
                       what="the flaky endpoint's error rate")


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
async def test_a_failing_delivery_is_retrying_then_dead_then_delivered_when_sent_again(backend):
    # flaky's CRM: 503, retried until the backend's max_age; the retry is held until the
    # table has shown the row retrying (a 4-6 s window a loaded machine could miss)
    backend.command(do="flaky", status=503, hold_after=1)
    try:
        app = make_app(backend, "deliveries")
        async with app.run_test(size=SIZE) as pilot:
            screen = await loaded(pilot)  # up before the call: its retrying state lasts ~5 s
            callid = backend.click_to_call("104", "flaky")
            table = screen.query_one("#deliveries-table")
            await pilot.press("slash", *callid[:8])  # the call's rows only
            await pilot.press("enter")

            def status():
                found = [r for r in rows(table).values() if r[3] == "outgoing_call"]
                return found[0][1] if found else ""
            await wait_for(pilot, lambda: status() == "retrying", what="the outgoing_call retrying")
            backend.command(do="flaky", status=503)  # the held retry answered: 503 again
            await wait_for(pilot, lambda: status() == "dead", timeout=30, what="then a dead letter")
            key = next(k for k, r in rows(table).items() if r[3] == "outgoing_call")
            table.move_cursor(row=table.get_row_index(key))
            await pilot.press("enter")  # its attempts: 503 twice
            detail = await loaded(pilot, DeliveryDetailScreen)
            attempts = detail.query_one("#delivery-attempts")
            assert [r[1] for r in rows(attempts).values()] == ["HTTP 503", "HTTP 503"]
            await pilot.press("enter")  # the newest attempt: request and response
            attempt = await loaded(pilot, AttemptScreen)
            request = attempt.query_one("#attempt-request", InfoPanel).text
            assert "outgoing_call" in request and "secret=***" in request and "flaky-secret" not in request
            assert "Status: HTTP 503" in attempt.query_one("#attempt-response", InfoPanel).text
            await pilot.press("escape", "escape")
            await wait_for(pilot, lambda: app.screen is screen, what="back on the deliveries")
            backend.command(do="flaky", status=200)
            table.focus()
            await pilot.press("r")
            await wait_for(pilot, lambda: status() == "delivered", what="delivered when sent again")
    finally:
        backend.command(do="flaky", status=None)


@synchronous
async def test_the_banner_says_why_the_connector_cannot_be_read_and_retries_later_and_later(backend):
    app = make_app(backend, token="wrong-token-0123456789")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.source_error, what="an error")
        assert app.source_error == "HTTP 401 unauthorized: a valid bearer token is required"
        banner = app.screen.query_one(Banner)
        await wait_for(pilot, lambda: app.source_error in banner.text, what="the banner")
        assert "check --token" in banner.text and banner.display
        await wait_for(pilot, lambda: app.failures >= 2, what="a second try")
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    app = ConnectorApp(StatusClient(closed), refresh=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.failures >= 3, what="three failures")
        assert app.source_error == f"cannot reach the connector at {closed}: connection refused"
        assert app.backoff.next_at - time.monotonic() > 0.2  # the third wait is 4x the first
        banner = app.screen.query_one(Banner)
        assert "connection refused" in banner.text and "retrying" in banner.text
        await pilot.press("4")  # another screen: it says the same, and keeps trying
        await wait_for(pilot, lambda: isinstance(app.screen, DeliveriesScreen) and app.failures >= 4,
                       timeout=15, what="the error again")
        assert app.screen.loads == 0 and "connection refused" in app.screen.query_one(Banner).text


@synchronous
async def test_a_slow_connector_shows_in_the_banner_and_the_screen_stays_usable(backend):
    answer = asyncio.Event()

    async def slow(request):
        await answer.wait()
        return httpx.Response(200, json={"status": "ok"} if request.url.path.endswith("/health") else {
            "customers": [], "extensions": []})
    app = ConnectorApp(StatusClient("http://pbx:8080", transport=httpx.MockTransport(slow)), refresh=0.2,
                       start_mode="extensions")
    async with app.run_test(size=SIZE) as pilot:
        banner = app.screen.query_one(Banner)
        await wait_for(pilot, lambda: "has not answered for 3s" in banner.text, what="slow")
        await pilot.press("question_mark")  # the event loop is free: keys work while waiting
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help")
        await pilot.press("escape")
        answer.set()
        await wait_for(pilot, lambda: app.health_loads and not banner.display, what="the banner gone")
