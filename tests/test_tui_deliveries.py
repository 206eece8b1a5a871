"""The Deliveries screen against a real connector (tests/tui_backend.py):
customer ``flaky`` sends its call starts to a CRM refusing them and its call
logs to another endpoint; each endpoint has its own row and counts, and an
attempt shows the request exactly as it went out."""

from tui.app import ConnectorApp
from tui.client import StatusClient
from tui.screens.attempt import AttemptScreen
from tui.screens.delivery_detail import DeliveryDetailScreen
from tui.widgets.info_panel import InfoPanel

from tui_harness import rows, synchronous, wait_for, wait_sync

SIZE = (170, 45)
ENDPOINT, DEAD, DELIVERED = 1, 4, 6  # columns of the customers table


async def loaded(pilot, screen_type):
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, screen_type) and app.screen.loads >= 1,
                   what=f"the {screen_type.__name__}")
    return app.screen


@synchronous
async def test_each_crm_endpoint_of_a_customer_has_its_row_and_attempts_show_what_was_sent(tui_backend):
    backend = tui_backend
    starts, logs = backend.flaky_endpoints  # http://127.0.0.1:PORT: endpoints (scheme://host:port) already
    backend.command(do="flaky_logs", status=200)  # call logs delivered; call starts refused (400)
    try:
        callid = backend.click_to_call("103", "flaky")
        wait_sync(lambda: {d["event_type"]: d["status"] for d in backend.get("/deliveries", callid=callid)[
            "deliveries"]} == {"outgoing_call": "dead", "call_answered": "delivered"}, timeout=30,
            what="the call's start dead and its log delivered")
        app = ConnectorApp(StatusClient(backend.api, backend.token), refresh=0.2, start_mode="deliveries")
        async with app.run_test(size=SIZE) as pilot:
            screen = await wait_for_rows(pilot, starts, logs)
            table = screen.query_one("#delivery-customers")
            [flaky] = [c for c in backend.get("/deliveries/stats")["customers"] if c["customer"] == "flaky"]
            counts = {e["endpoint"]: e["counts"] for e in flaky["endpoints"]}
            assert set(counts) == {starts, logs}
            assert counts[logs]["delivered"] >= 1 and counts[starts]["dead"] >= 1
            assert flaky["counts"]["dead"] == counts[starts]["dead"] + counts[logs]["dead"]

            def shown(key, column):
                return rows(table)[key][column]
            await wait_for(pilot, lambda: [(shown(f"flaky {e}", DELIVERED), shown(f"flaky {e}", DEAD))
                                           for e in (starts, logs)] == [
                (str(counts[e]["delivered"]), str(counts[e]["dead"])) for e in (starts, logs)],
                what="each endpoint's counts as the connector has them")
            assert shown(f"flaky {starts}", ENDPOINT) == starts and shown("flaky", ENDPOINT) == "(all)"
            assert shown("flaky", DEAD) == str(flaky["counts"]["dead"])

            outbox = screen.query_one("#deliveries-table")
            await pilot.press("slash", *callid[:8], "enter")
            await wait_for(pilot, lambda: {r[3]: r[8] for r in rows(outbox).values()} == {
                "outgoing_call": starts, "call_answered": logs}, what="each row with its endpoint")
            key = next(k for k, r in rows(outbox).items() if r[3] == "outgoing_call")
            outbox.move_cursor(row=outbox.get_row_index(key))
            outbox.focus()
            await pilot.press("enter")
            await loaded(pilot, DeliveryDetailScreen)
            await pilot.press("enter")  # its attempt
            attempt = await loaded(pilot, AttemptScreen)
            request = attempt.query_one("#attempt-request", InfoPanel).text
            assert "Method: GET" in request and f"URL: {starts}/wsapi/flaky/outgoing_call?secret=***&" in request
            assert "X-Event-Id: " in request and "User-Agent: esl-connector/" in request
            assert "as sent; secrets are ***" in request and "flaky-secret" not in request
    finally:
        backend.command(do="flaky_logs", status=None)


async def wait_for_rows(pilot, starts, logs):
    app = pilot.app
    await wait_for(pilot, lambda: app.screen.loads >= 1, what="the deliveries")
    table = app.screen.query_one("#delivery-customers")
    await wait_for(pilot, lambda: {"flaky", f"flaky {starts}", f"flaky {logs}"} <= set(rows(table)),
                   what="flaky's two endpoints")
    return app.screen
