"""What went out and where, end to end (a simulated call, a real connector on
SQLite and PostgreSQL, two real CRM receivers): every attempt keeps the
request as sent, secrets as ***, and the status API counts each customer's
rows per CRM endpoint, pending and retrying rows included."""

import json

import pytest
import requests

from esl_connector.app import Connector
from esl_connector.crm_receiver import CrmReceiver
from esl_connector.simulator import Simulator, run_scenario

from connector_harness import connector_settings
from delivery_fixtures import ScriptedCrm
from esl_fake_server import wait_until

SECRET = "acme-secret-7731"
TOKEN = "bearer-token-5520-acme"


@pytest.fixture
def world(backend):
    """incoming_call goes to ``ring`` (always 200); call_answered to ``logs``,
    with the secret in its JSON body and a bearer token, answering what
    ``answers`` holds (503 at first)."""
    answers = [503]
    ring = CrmReceiver().start()
    logs = ScriptedCrm(policy=lambda r: (answers[0], {}) if answers[0] != 200 else None).start()
    sim = Simulator(speed=40, extensions=["101", "102"]).start()
    settings = connector_settings(backend.url, *sim.address)
    settings.customers = [{
        "code": "acme", "domain_crm": ring.url, "secret": SECRET, "extensions": "101-102",
        "events": {"call_answered": {"url": f"{logs.url}/crm/acme/log", "secret_in": "body",
                                     "auth": {"type": "bearer", "token": TOKEN}}}}]
    connector = Connector(settings).start()
    wait_until(lambda: connector.resyncs, what="connected and resynced")
    yield sim, ring, logs, answers, connector
    connector.stop()
    sim.stop()
    ring.stop()
    logs.stop()


def api(connector, path, method="GET"):
    response = requests.request(method, f"{connector.http.url}/api/v1{path}", timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def per_endpoint(connector):
    [acme] = [c for c in api(connector, "/deliveries/stats")["customers"] if c["customer"] == "acme"]
    return acme, {e["endpoint"]: e["counts"] for e in acme["endpoints"]}


def row_of(connector, event_type):
    rows = api(connector, "/deliveries?limit=50")["deliveries"]
    return next((r for r in rows if r["event_type"] == event_type), None)


def test_each_endpoint_counts_its_rows_and_each_attempt_keeps_its_request(world):
    sim, ring, logs, answers, connector = world
    assert run_scenario(sim.pbx, "inbound_answered").wait(30)
    wait_until(lambda: ring.requests and logs.requests, timeout=30, what="both webhooks sent")
    wait_until(lambda: (row_of(connector, "call_answered") or {}).get("status") == "retrying",
               timeout=10, what="the call log retrying")

    acme, counts = per_endpoint(connector)
    assert set(counts) == {ring.url, logs.url}  # http://127.0.0.1:PORT: endpoints already
    assert counts[ring.url]["delivered"] == 1 and counts[ring.url]["retrying"] == 0
    assert counts[logs.url]["retrying"] == 1 and counts[logs.url]["delivered"] == 0
    assert acme["counts"]["retrying"] == 1 and acme["backlog"] == 1
    [log_stats] = [e for e in acme["endpoints"] if e["endpoint"] == logs.url]
    assert log_stats["backlog"] == 1 and log_stats["oldest_pending_age_s"] >= 0

    log_row = row_of(connector, "call_answered")
    assert log_row["endpoint"] == logs.url
    [attempt] = api(connector, f"/deliveries/{log_row['id']}")["delivery"]["attempts"]
    sent, received = attempt["request"], logs.requests[0]
    assert (sent["method"], sent["url"]) == ("POST", f"{logs.url}/crm/acme/log")
    assert sent["headers"]["Authorization"] == "Bearer ***"
    assert sent["headers"]["Content-Type"] == "application/json"
    assert sent["headers"]["X-Event-Id"] == received.headers["X-Event-Id"]
    assert sent["headers"]["Content-Length"] == str(len(received.body))  # added by the HTTP client
    assert '"secret":"***"' in sent["body"]
    assert sent["body"].replace('"secret":"***"', f'"secret":"{SECRET}"') == received.body.decode()
    assert (sent["body_bytes"], sent["truncated"]) == (len(received.body), False)
    assert SECRET not in json.dumps(attempt) and TOKEN not in json.dumps(attempt)

    ring_row = row_of(connector, "incoming_call")
    [ring_attempt] = api(connector, f"/deliveries/{ring_row['id']}")["delivery"]["attempts"]
    assert ring_attempt["request"]["url"].startswith(f"{ring.url}/wsapi/acme/incoming_call?secret=***&")
    assert ring_attempt["request"]["body"] is None and "Authorization" not in ring_attempt["request"]["headers"]

    answers[0] = 400  # the CRM now refuses it: retried by hand, it is a dead letter
    api(connector, f"/deliveries/{log_row['id']}/retry", "POST")
    wait_until(lambda: row_of(connector, "call_answered")["status"] == "dead", timeout=30,
               what="the call log dead")
    _, counts = per_endpoint(connector)
    assert counts[logs.url]["dead"] == 1 and counts[logs.url]["retrying"] == 0
    assert counts[ring.url]["delivered"] == 1
    attempts = api(connector, f"/deliveries/{log_row['id']}")["delivery"]["attempts"]
    assert [a["status_code"] for a in attempts] == [503, 400]
    assert attempts[1]["request"]["headers"]["X-Event-Id"] == sent["headers"]["X-Event-Id"]


def test_rows_not_sent_yet_count_on_the_endpoint_their_settings_give(world):
    """A row not planned yet (the customer's only endpoint saturated or the
    engine not started) is counted where its customer's settings send it."""
    sim, ring, logs, answers, connector = world
    connector.deliverer.stop()
    assert run_scenario(sim.pbx, "inbound_answered").wait(30)
    wait_until(lambda: connector.writer.flush(1) and row_of(connector, "call_answered"), timeout=30,
               what="the call's rows stored")
    assert row_of(connector, "call_answered")["endpoint"] == ""
    _, counts = per_endpoint(connector)
    assert counts[ring.url]["pending"] == 1 and counts[logs.url]["pending"] == 1
