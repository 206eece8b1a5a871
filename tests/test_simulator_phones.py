"""The simulator produces every caller-ID case of the CRM's ``phone``, and
the connector, over real TCP, sends each in the customer's form: a +84
caller, a hostile caller ID, ``anonymous``, an inbound call routed through
loopback."""

import pytest

from esl_connector.app import Connector
from esl_connector.simulator import Simulator, run_scenario
from esl_connector.simulator.scenarios import HOSTILE_CALLER
from storage import queries

from connector_harness import connector_settings, wait_outbox
from esl_fake_server import wait_until

SPEED = 40.0
ACME = {"code": "acme", "domain_crm": "http://127.0.0.1:9", "secret": "s", "extensions": "101-109",
        "click2call": {"phone_prefixes": {"+84": "0", "84": "0"}, "phone_placeholder": "anonymous"}}

# scenario -> (phone in the outbox, phone in the call row)
CASES = {
    "inbound_plus84": ("0904824242", "+84904824242"),
    "inbound_hostile_caller": ("anonymous", HOSTILE_CALLER.replace("\n", "\\n")),
    "inbound_anonymous": ("anonymous", "anonymous"),
    "inbound_via_loopback": ("0904824242", "0904824242"),
}


@pytest.mark.parametrize("fmt", ["plain", "json"])
@pytest.mark.parametrize("scenario", sorted(CASES))
def test_each_caller_id_case_reaches_the_crm_as_the_customers_phone(tmp_path, scenario, fmt):
    sim = Simulator(speed=SPEED, extensions=["101"]).start()
    host, port = sim.address
    settings = connector_settings(tmp_path / "c.db", host, port, freeswitch={"event_format": fmt})
    settings.customers = [ACME]
    connector = Connector(settings).start()
    try:
        wait_until(lambda: connector.client.connected and connector.resyncs, timeout=30, what="resynced")
        assert run_scenario(sim.pbx, scenario).wait(30)
        rows = wait_outbox(connector, 2)
        sent, stored = CASES[scenario]
        assert [(kind, p["extension"], p["phone"]) for kind, p in rows] == [
            ("incoming_call", "101", sent), ("call_answered", "101", sent)]
        assert rows[1][1]["status"] == "ANSWERED" and rows[1][1]["userfield"] == ""
        assert queries.get_call(connector.db, rows[0][1]["callid"]).phone == stored
    finally:
        connector.stop()
        sim.stop()
