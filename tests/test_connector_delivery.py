"""End to end: a simulated FreeSWITCH call becomes the contract's exact HTTP
requests at a CRM (real TCP, real SQLite, real HTTP)."""

import json

import pytest

from esl_connector.app import Connector
from esl_connector.crm_receiver import CrmReceiver
from esl_connector.simulator import Simulator, run_scenario

from connector_harness import connector_settings
from esl_fake_server import wait_until


@pytest.fixture
def world(tmp_path):
    crm = CrmReceiver().start()
    sim = Simulator(speed=40, extensions=["101", "102"]).start()
    settings = connector_settings(tmp_path / "c.db", *sim.address)
    settings.customers = [{"code": "acme", "domain_crm": crm.url, "secret": "s3cr3t", "extensions": "101-102"}]
    connector = Connector(settings).start()
    yield sim, crm, connector
    connector.stop()
    sim.stop()
    crm.stop()


def test_inbound_call_reaches_the_crm_exactly_as_the_guide_says(world):
    sim, crm, connector = world
    assert run_scenario(sim.pbx, "inbound_answered").wait(30)
    wait_until(lambda: len(crm.requests) >= 2, timeout=15, what="two webhooks")
    ring, log = crm.requests[:2]
    callid = ring.query["callid"]
    assert (ring.method, ring.path) == ("GET", "/wsapi/acme/incoming_call")
    assert ring.query_string == f"secret=s3cr3t&phone=0904824242&extension=101&callid={callid}"
    assert (log.method, log.path, log.query_string) == ("POST", "/wsapi/acme/call_answered", "secret=s3cr3t")
    assert log.headers["Content-Type"] == "application/json"
    body = json.loads(log.body)
    assert list(body) == ["callid", "calldate", "extension", "phone", "duration", "billsec",
                          "status", "recording", "userfield"]
    assert body["callid"] == callid and body["status"] == "ANSWERED" and body["billsec"] == 3
    assert isinstance(body["duration"], int) and body["recording"] == "" and body["userfield"] == ""
    assert ring.headers["X-Event-Id"] != log.headers["X-Event-Id"]
    assert ring.headers["User-Agent"].startswith("esl-connector/")


def test_a_crm_failing_the_first_attempt_still_gets_events_in_order(world):
    sim, crm, connector = world
    crm.fail_next(1, 503)
    assert run_scenario(sim.pbx, "outbound_from_extension").wait(30)
    wait_until(lambda: len([r for r in crm.requests if r.headers.get("X-Event-Id")]) >= 3,
               timeout=30, what="a retry and the call log")
    kinds = [r.event_type for r in crm.requests]
    assert kinds == ["outgoing_call", "outgoing_call", "call_answered"]
    assert crm.requests[0].headers["X-Event-Id"] == crm.requests[1].headers["X-Event-Id"]
