"""Each registration's user agent is right as soon as the connector has read
FreeSWITCH's state, after a restart too: ``show registrations`` has no user
agent, so it comes from ``sofia status profile <name> reg`` (the recorded
text), over real TCP from the simulator, with a real status API."""

import re

import pytest
import requests

from esl_connector.calls.extensions import ExtensionTracker
from esl_connector.esl.registrations import parse_sofia_reg, profiles_of, with_user_agents
from esl_connector.simulator import Simulator

import recordings
from connector_harness import start_connector
from esl_fake_server import wait_until

TOKEN = "status-token-0123456789"
BARESIP = "baresip v1.0.0 (x86_64/linux)"


def recorded_api_response(containing: bytes) -> str:
    data = recordings.raw("api_responses", "json")
    for match in re.finditer(rb"Content-Type: api/response\nContent-Length: (\d+)\n\n", data):
        body = data[match.end():match.end() + int(match.group(1))]
        if containing in body:
            return body.decode()
    raise AssertionError(f"no recorded api/response containing {containing!r}")


def test_the_recorded_sofia_registration_list_gives_each_call_ids_user_agent():
    text = recorded_api_response(b"Registrations:")
    assert parse_sofia_reg(text) == {"0a1c9b43a7924a0d": BARESIP, "ce56bb84bbb6938e": BARESIP}


def test_the_recorded_registrations_name_their_profile_and_get_their_agents_by_token():
    import json
    rows = json.loads(recorded_api_response(b'"reg_user"'))["rows"]
    assert profiles_of(rows) == ["internal"]
    asked = []

    def api(command):
        asked.append(command)
        return recorded_api_response(b"Registrations:")

    assert [row["agent"] for row in with_user_agents(api, rows)] == [BARESIP, BARESIP]
    assert asked == ["sofia status profile internal reg"]


def _lines_labels(text: str) -> list[list[str]]:
    blocks = text.split("\n\n")
    return [[line.split(":", 1)[0] for line in block.splitlines() if ":" in line and "\t" in line]
            for block in blocks if "Call-ID:" in block]


def test_the_simulator_answers_sofia_status_reg_in_the_recorded_layout():
    sim = Simulator(speed=40.0, extensions=["101", "102"]).start()
    try:
        sim.pbx.register("101")
        sim.pbx.register("102")
        mine = sim.pbx.api("sofia", "status profile internal reg")
        recorded = recorded_api_response(b"Registrations:")
        assert _lines_labels(mine) == _lines_labels(recorded)
        assert mine.splitlines()[:3] == recorded.splitlines()[:3]
        assert mine.splitlines()[-2:] == recorded.splitlines()[-2:]
        assert sim.pbx.api("sofia", "status profile nosuch reg") == "Invalid Profile!\n"
        assert "Total items returned: 0" in sim.pbx.api("sofia", "status profile external reg")
    finally:
        sim.stop()


def _agents_over_http(connector) -> dict[str, str]:
    reply = requests.get(connector.http.url + "/api/v1/extensions", timeout=5,
                         headers={"Authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 200
    return {e["extension"]: e["user_agent"] for e in reply.json()["extensions"] if e["state"] != "offline"}


def _stored_agents(connector, count: int) -> dict[str, str]:
    """The registered extensions' user agents, once the resync's changes are committed."""
    wait_until(lambda: connector.writer.flush(1) and len(_agents_over_http(connector)) == count,
               what=f"{count} registered extensions stored")
    return _agents_over_http(connector)


def test_user_agents_are_right_after_a_restart_without_any_re_registration(backend):
    sim = Simulator(speed=40.0, extensions=["101", "102", "103"]).start()
    host, port = sim.address
    try:
        sim.pbx.configure("101", user_agent="Yealink SIP-T46S 66.86.0.15")
        sim.pbx.register("101")
        first = start_connector(backend.url, host, port, http={"api_token": TOKEN})
        try:
            assert _stored_agents(first, 1) == {"101": "Yealink SIP-T46S 66.86.0.15"}
        finally:
            first.stop()
        # While the connector is down: 102 registers (never seen by the connector),
        # 101 is replaced by another phone model. No event reaches the connector.
        sim.pbx.register("102")
        sim.pbx.configure("101", user_agent="Grandstream GXP2170 1.0.11.3")
        sim.pbx.register("101")
        second = start_connector(backend.url, host, port, http={"api_token": TOKEN})
        try:
            # from the first resync's commit on, with no registration event since
            assert _stored_agents(second, 2) == {"101": "Grandstream GXP2170 1.0.11.3", "102": BARESIP}
        finally:
            second.stop()
    finally:
        sim.stop()


def _row(token: str, port: str, agent: str | None = None) -> dict:
    row = {"reg_user": "101", "realm": "d1", "token": token, "url": f"sofia/internal/sip:101@10.0.0.5:{port}",
           "expires": "2000000000", "network_ip": "10.0.0.5", "network_port": port}
    if agent is not None:
        row["agent"] = agent
    return row


@pytest.mark.parametrize("row,expected", [
    (_row("call-id-1", "5060"), "Zoiper 5"),  # same Call-ID: the same registration
    (_row("call-id-2", "5060"), "Zoiper 5"),  # same address, as after a restart (stored: no Call-ID)
    (_row("call-id-2", "5062"), ""),  # another phone: unknown rather than a wrong one
    (_row("call-id-1", "5060", agent="Zoiper 6"), "Zoiper 6"),  # FreeSWITCH's word wins
])
def test_without_sofias_list_a_registration_keeps_the_user_agent_known_for_it(row, expected):
    presence = ExtensionTracker()
    presence.load_registrations([_row("call-id-1", "5060", agent="Zoiper 5")], now=1.0)
    [record] = presence.load_registrations([row], now=2.0) or presence.records()
    assert record.user_agent == expected
