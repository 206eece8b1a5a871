"""The TUI's pure formatting and its HTTP client's error lines."""

import asyncio

import httpx

from tui.client import SourceError, StatusClient
from tui.formatting import ago, duration, last_known, number, percent, sum_tail


def test_durations_and_ages():
    assert [duration(s) for s in (None, -3, 0, 42, 125, 7384, 200000)] == [
        "-", "0s", "0s", "42s", "2m05s", "2h03m", "2d07h"]
    assert ago(0, 100.0) == "-" and ago(88.0, 100.0) == "12s ago"
    assert number(None) == "-" and number(18345) == "18,345" and number(3.25, "/s", 1) == "3.2/s"
    assert percent(None) == "-" and percent(0.2045) == "20.4%"
    assert sum_tail([1, None, 2, 3], 2) == 5 and sum_tail([1, 2], 0) == 0
    assert last_known([1.0, None, None]) == 1.0 and last_known([None]) is None


def test_the_clients_errors_are_one_line_an_operator_can_act_on():
    def answer(request):
        if request.url.path.endswith("/health"):
            return httpx.Response(401, json={"status": "error", "code": "unauthorized",
                                             "message": "a valid bearer token is required"})
        if request.url.path.endswith("/calls"):
            return httpx.Response(200, text="<html>not the connector</html>")
        return httpx.Response(200, json={"status": "success", "customer": "acme", "retried": 3})

    async def run():
        client = StatusClient("http://pbx:8080", "t" * 20, transport=httpx.MockTransport(answer))
        errors = []
        for call in (client.health(), client.calls()):
            try:
                await call
            except SourceError as exc:
                errors.append((str(exc), exc.status))
        retried = await client.retry_dead("acme")
        await client.close()
        return errors, retried

    errors, retried = asyncio.run(run())
    assert errors == [("HTTP 401 unauthorized: a valid bearer token is required", 401),
                      ("http://pbx:8080 answered HTTP 200 without JSON: is it the connector's HTTP port?", 200)]
    assert retried == 3


def test_an_attempt_recorded_before_requests_were_kept_says_so_and_invents_nothing():
    from tui.screens.attempt import request_rows

    row = {"event_type": "incoming_call", "customer": "acme", "extension": "101", "domain": "d1"}
    old = {"id": 1, "at": 0.0, "url": "https://crm.acme.vn/x?secret=***", "request": None}
    shown = dict((name, getattr(value, "plain", value)) for name, value in request_rows(row, old))
    assert shown["URL"] == "https://crm.acme.vn/x?secret=***" and "Method" not in shown
    assert shown["Request"].startswith("not stored: this attempt was recorded before")
    assert dict(request_rows(row, None))["Request"] == "not tried yet"
