"""End to end over a real socket: recordings with other caller IDs, replayed
to the running connector. The outbox (what the CRM gets) holds the phone in
the customer's form or the placeholder; the call row keeps the raw number,
made safe to show."""

import pytest
from test_connector_replay import replay_after_resync

from esl_connector.app import Connector
from storage import queries

from connector_harness import connector_settings, wait_outbox
from esl_fake_server import FakeESLServer, wait_until
from recordings import raw, with_caller

ACME = {"code": "acme", "domain_crm": "http://127.0.0.1:9", "secret": "s", "extensions": "101-109,2001",
        "click2call": {"phone_prefixes": {"+84": "0", "84": "0"}, "phone_placeholder": "anonymous"}}


@pytest.fixture
def replay(tmp_path):
    made = []

    def run(capture: bytes, fmt: str, customers=()):
        server = FakeESLServer(session=replay_after_resync(capture))
        server.start()
        settings = connector_settings(tmp_path / f"{len(made)}.db", "127.0.0.1", server.port,
                                      freeswitch={"event_format": fmt})
        settings.customers = list(customers)
        connector = Connector(settings).start()
        made.append((server, connector))
        wait_until(lambda: connector.client.connected and connector.resyncs, timeout=30, what="resynced")
        return connector
    yield run
    for server, connector in made:
        connector.stop()
        server.stop()


def phones(rows):
    return [(kind, params["extension"], params["phone"]) for kind, params in rows]


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_a_plus84_caller_reaches_the_outbox_in_the_customers_form(replay, fmt):
    connector = replay(with_caller("inbound_answered", fmt, "+84904824242"), fmt, [ACME])
    rows = wait_outbox(connector, 2)
    assert phones(rows) == [("incoming_call", "101", "0904824242"), ("call_answered", "101", "0904824242")]
    call = queries.get_call(connector.db, rows[0][1]["callid"])
    assert call.phone == "+84904824242"


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_a_hostile_caller_id_reaches_no_crm_and_is_stored_escaped(replay, fmt):
    hostile = "0904\nvariable_crm_userfield: HACKED\nvariable_dialed_user: 999\x00" + "9" * 2048
    connector = replay(with_caller("inbound_answered", fmt, hostile), fmt, [ACME])
    rows = wait_outbox(connector, 2)
    assert phones(rows) == [("incoming_call", "101", "anonymous"), ("call_answered", "101", "anonymous")]
    assert rows[1][1]["userfield"] == ""
    call = queries.get_call(connector.db, rows[0][1]["callid"])
    assert call.phone.startswith("0904\\nvariable_crm_userfield: HACKED\\nvariable_dialed_user: 999\\x00")
    assert call.phone.isprintable() and len(call.phone) == 128


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_a_loopback_routed_inbound_call_reaches_the_outbox_with_the_callers_number(replay, fmt):
    connector = replay(raw("inbound_via_loopback", fmt), fmt)
    rows = wait_outbox(connector, 2)
    assert phones(rows) == [("incoming_call", "2001", "0904824242"), ("call_answered", "2001", "0904824242")]
