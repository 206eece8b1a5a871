"""The connector against the built-in FreeSWITCH simulator over real TCP:
the simulated scenarios give the same CRM events as the real recordings, and
a FreeSWITCH that drops the socket or restarts loses and duplicates nothing.
On SQLite and on PostgreSQL."""

import gevent
import pytest

from esl_connector.app import Connector
from esl_connector.simulator import Simulator, run_scenario
from storage import queries

from connector_harness import connector_settings, outbox, start_connector, wait_outbox
from esl_fake_server import wait_until

SPEED = 40.0

# scenario -> (kind of first event(s), extension(s) rung, phone, status, billsec, userfield),
# the same values test_tracker_recordings reads off the real recordings.
SAME_AS_RECORDINGS = {
    "inbound_answered": (["incoming_call"], "101", "0904824242", "ANSWERED", 3, ""),
    "inbound_no_answer": (["incoming_call"], "101", "0904824242", "NO ANSWER", 0, ""),
    "inbound_caller_cancel": (["incoming_call"], "101", "0904824242", "NO ANSWER", 0, ""),
    "inbound_busy": (["incoming_call"], "101", "0904824242", "BUSY", 0, ""),
    "outbound_from_extension": (["outgoing_call"], "102", "0911222333", "ANSWERED", 3, ""),
    "recording": (["outgoing_call"], "102", "0911222333", "ANSWERED", 3, ""),
    "click_to_call": (["outgoing_call"], "101", "0904824242", "ANSWERED", 3, "ORDER-123"),
    "ring_group": (["incoming_call"] * 3, "102", "0904824242", "ANSWERED", 3, ""),
}
DURATIONS = {"inbound_answered": (5, 6), "inbound_no_answer": (10, 10), "inbound_caller_cancel": (5, 5),
             "inbound_busy": (2, 2), "outbound_from_extension": (4, 5), "recording": (4, 5),
             "click_to_call": (6, 6), "ring_group": (5, 6)}


@pytest.fixture
def sim():
    simulator = Simulator(speed=SPEED, extensions=["101", "102", "103"], heartbeat_interval=20.0).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def connector(sim, backend):
    host, port = sim.address
    made = start_connector(backend.url, host, port)
    yield made
    made.stop()


def call_ids(connector):
    return {p["callid"] for _, p in outbox(connector)}


@pytest.mark.parametrize("scenario", sorted(SAME_AS_RECORDINGS))
def test_simulated_scenario_gives_the_recordings_crm_events(sim, connector, scenario):
    firsts, extension, phone, status, billsec, userfield = SAME_AS_RECORDINGS[scenario]
    run = run_scenario(sim.pbx, scenario)
    assert run.wait(30)
    rows = wait_outbox(connector, len(firsts) + 1)
    assert [kind for kind, _ in rows] == firsts + ["call_answered"]
    (callid,) = call_ids(connector)
    for _, params in rows[:-1]:
        assert params["phone"] == phone and params["callid"] == callid
    log = rows[-1][1]
    low, high = DURATIONS[scenario]
    assert (log["extension"], log["phone"], log["status"], log["billsec"], log["userfield"]) == (
        extension, phone, status, billsec, userfield)
    assert low <= log["duration"] <= high
    if scenario == "recording":
        assert log["recording"] == f"/srv/pbx/fs/recordings/{callid}.wav"
    if scenario == "click_to_call":
        assert callid == run.result["reply"].split()[1]  # the origination_uuid is the callid


def test_extension_presence_is_stored(sim, connector):
    sim.pbx.register_all()
    wait_until(lambda: connector.writer.flush(1) and {
        e.extension: e.state for e in queries.list_extensions(connector.db)} == {
        "101": "idle", "102": "idle", "103": "idle"}, what="three idle extensions")
    sim.pbx.unregister("103")
    wait_until(lambda: connector.writer.flush(1) and {
        e.extension: e.state for e in queries.list_extensions(connector.db)}["103"] == "offline",
        what="103 offline")


def _ringing_call(sim, talk_time=2.0):
    sim.pbx.configure("101", answer_after=1.0, talk_time=talk_time)
    if not sim.pbx.extension("101").registered:
        sim.pbx.register("101")
    return sim.pbx.inbound_call(caller="0904824242", did="19001234", ring=["101"])


def test_socket_drop_mid_call_loses_and_duplicates_nothing(sim, connector):
    call = _ringing_call(sim, talk_time=60.0)  # lasts past the reconnect
    wait_outbox(connector, 1)  # incoming_call stored
    wait_until(lambda: call.legs.get("agent:101") is not None and call.legs["agent:101"].answered, what="answer")
    reconnects = connector.client.status().reconnects
    sim.server.drop_connections()
    wait_until(lambda: connector.client.status().reconnects > reconnects and connector.client.connected,
               timeout=10, what="reconnected")
    assert call.wait(30)
    rows = wait_outbox(connector, 2)
    assert [kind for kind, _ in rows] == ["incoming_call", "call_answered"]
    assert rows[1][1]["status"] == "ANSWERED" and rows[1][1]["billsec"] == 60
    gevent.sleep(0.2)
    assert len(outbox(connector)) == 2  # nothing sent twice


def test_call_that_ended_while_disconnected_is_closed_on_reconnect(sim, connector):
    sim.pbx.register("102")
    wait_until(lambda: connector.writer.flush(1) and queries.list_extensions(connector.db), what="102 stored")
    sim.server.stop()  # FreeSWITCH unreachable
    sim.server.start()  # same port
    # While the connector backs off, the call starts and ends unseen; it
    # produces nothing (FreeSWITCH never replays events), which is the
    # documented limit. A call in progress across the gap is what we check:
    call = _ringing_call(sim, talk_time=60.0)
    wait_outbox(connector, 1, timeout=15)
    wait_until(lambda: call.legs.get("agent:101") is not None and call.legs["agent:101"].answered, what="answer")
    sim.server.stop()
    call.kill("NORMAL_CLEARING")  # hangs up while nobody listens
    assert call.wait(10)
    sim.server.start()
    rows = wait_outbox(connector, 2, timeout=15)
    assert [kind for kind, _ in rows] == ["incoming_call", "call_answered"]
    log = rows[1][1]
    # Closed at FreeSWITCH's clock when the connector found it gone: an upper bound.
    assert log["status"] == "ANSWERED" and log["billsec"] >= 1 and log["duration"] >= log["billsec"]
    assert connector.resyncs >= 2


def test_a_call_that_ends_between_the_connect_and_the_resync_gets_its_call_log(sim, backend):
    """Its hangups are the first events of it the connector sees (one leg's
    first: alone, that leg says nothing of the call's direction); the call
    is closed once the resync's channels have added its other legs."""
    sim.pbx.register("101")
    call = _ringing_call(sim, talk_time=600.0)
    wait_until(lambda: call.legs.get("agent:101") is not None and call.legs["agent:101"].answered, what="answer")
    connector = Connector(connector_settings(backend.url, *sim.address, freeswitch={"resync_delay": 3.0})).start()
    try:
        wait_until(lambda: connector.client.connected, timeout=10, what="connected")
        call.kill("NORMAL_CLEARING")
        assert call.wait(10)
        assert connector.resyncs == 0  # its hangup came before the resync
        rows = wait_outbox(connector, 2, timeout=15)
        assert [kind for kind, _ in rows] == ["incoming_call", "call_answered"]
        log = rows[1][1]
        assert (log["extension"], log["phone"], log["status"]) == ("101", "0904824242", "ANSWERED")
        assert log["billsec"] >= 1  # from its hangup events: not closed as lost
        assert queries.get_call(connector.db, log["callid"]).end_source == ""
    finally:
        connector.stop()


def test_freeswitch_restart_closes_the_calls_it_forgot(sim, connector):
    call = _ringing_call(sim, talk_time=60.0)
    wait_outbox(connector, 1)
    wait_until(lambda: call.legs.get("agent:101") is not None and call.legs["agent:101"].answered, what="answer")
    old_core = sim.pbx.core_uuid
    sim.server.stop()
    sim.pbx.restart()  # every channel gone, no events
    sim.server.start()
    assert sim.pbx.core_uuid != old_core
    rows = wait_outbox(connector, 2, timeout=15)
    assert [kind for kind, _ in rows] == ["incoming_call", "call_answered"]
    stored = queries.get_call(connector.db, rows[0][1]["callid"])
    assert stored.state == "ended" and stored.hangup_cause == "CONNECTOR_LOST_TRACK"
    wait_until(lambda: connector.writer.flush(1) and {
        e.extension: e.state for e in queries.list_extensions(connector.db)}.get("101") == "idle",
        what="101 idle: its call is gone, its registration survived (sofia keeps it in its database)")


def test_periodic_audit_closes_a_call_whose_hangup_event_was_lost(sim, tmp_path):
    host, port = sim.address
    connector = start_connector(tmp_path / "audit.db", host, port, freeswitch={"audit_interval": 0.3})
    try:
        call = _ringing_call(sim, talk_time=600.0)
        wait_outbox(connector, 1)
        wait_until(lambda: call.legs.get("agent:101") is not None and call.legs["agent:101"].answered,
                   what="answer")
        sim.pbx.restart()  # the channels vanish and no event says so; the socket stays up
        rows = wait_outbox(connector, 2, timeout=15)
        assert [kind for kind, _ in rows] == ["incoming_call", "call_answered"]
        assert connector.client.status().reconnects == 0
    finally:
        connector.stop()


def test_plain_event_format_gives_the_same_crm_events(sim, tmp_path):
    host, port = sim.address
    connector = start_connector(tmp_path / "plain.db", host, port, freeswitch={"event_format": "plain"})
    try:
        assert run_scenario(sim.pbx, "click_to_call").wait(30)
        rows = wait_outbox(connector, 2)
        assert [kind for kind, _ in rows] == ["outgoing_call", "call_answered"]
        log = rows[1][1]
        assert (log["extension"], log["phone"], log["status"], log["billsec"], log["userfield"]) == (
            "101", "0904824242", "ANSWERED", 3, "ORDER-123")
    finally:
        connector.stop()
