"""Every recorded scenario, replayed over a real socket to the running
connector: the outbox in the SQLite file holds exactly the CRM events the
contract requires, with the exact values read from the recordings."""

import pytest
from test_tracker_recordings import EXPECTED, INBOUND

from esl_connector.esl.protocol import is_event_frame, parse_frames
from storage import queries

from connector_harness import outbox, start_connector, wait_outbox
from esl_fake_server import FakeESLServer, wait_until
from recordings import FIXTURES

EMPTY_TABLE = '{"row_count": 0}\n'
VERSION = "FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n"


def replay_after_resync(capture: bytes):
    """Handshake, answer the connector's resync queries (FreeSWITCH idle),
    then stream every recorded event frame, then stay connected."""
    events = [f for f in parse_frames(capture) if is_event_frame(f)]
    data = b"".join(b"Content-Length: %d\nContent-Type: %s\n\n" % (len(f.body), f.content_type.encode())
                    + f.body for f in events)

    def answer(conn, body):
        conn.send(b"Content-Type: api/response\nContent-Length: %d\n\n" % len(body) + body.encode())

    def session(conn):
        if not conn.handshake("ClueCon"):
            return
        for body in (EMPTY_TABLE, EMPTY_TABLE, "1795641000"):  # registrations, channels, strepoch
            if conn.read_command() is None:
                return
            answer(conn, body)
        conn.send(data)
        while (command := conn.read_command()) is not None:  # e.g. `api version`, then `exit`
            if command == "exit":
                conn.reply("+OK bye")
                return
            answer(conn, VERSION if command == "api version" else "-ERR not recorded\n")
    return session


@pytest.fixture
def replay(tmp_path):
    made = []

    def run(scenario, fmt):
        server = FakeESLServer(session=replay_after_resync((FIXTURES / f"{scenario}.{fmt}.esl").read_bytes()))
        server.start()
        connector = start_connector(tmp_path / f"{scenario}.{fmt}.db", "127.0.0.1", server.port,
                                    freeswitch={"event_format": fmt})
        made.append((server, connector))
        return server, connector
    yield run
    for server, connector in made:
        connector.stop()
        server.stop()


@pytest.mark.parametrize("scenario,fmt", sorted(EXPECTED))
def test_recorded_call_reaches_the_outbox_exactly(replay, scenario, fmt):
    callid, calldate, duration, billsec, status = EXPECTED[scenario, fmt]
    server, connector = replay(scenario, fmt)
    rows = wait_outbox(connector, 2)
    inbound = scenario in INBOUND
    extension = "101" if inbound or scenario == "click_to_call" else "102"
    phone = "0904824242" if inbound or scenario == "click_to_call" else "0911222333"
    assert rows == [
        ("incoming_call" if inbound else "outgoing_call", {"phone": phone, "extension": extension, "callid": callid}),
        ("call_answered", {
            "callid": callid, "calldate": calldate, "extension": extension, "phone": phone,
            "duration": duration, "billsec": billsec, "status": status,
            "recording": f"/srv/pbx/fs/recordings/{callid}.wav" if scenario == "recording" else "",
            "userfield": "ORDER-123" if scenario == "click_to_call" else "",
        }),
    ]
    assert connector.client.status().reconnects == 0  # every command was answered
    call = queries.get_call(connector.db, callid)
    assert (call.state, call.status, call.billsec, call.extension) == ("ended", status, billsec, extension)
    subscribe = [c for c in server.all_commands() if c.startswith("event ")]
    assert subscribe == [f"event {fmt} CHANNEL_CREATE CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA CHANNEL_ANSWER "
                         "CHANNEL_BRIDGE CHANNEL_UNBRIDGE CHANNEL_HANGUP_COMPLETE RECORD_START RECORD_STOP "
                         "BACKGROUND_JOB HEARTBEAT CUSTOM sofia::register sofia::unregister sofia::expire"]


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_registration_recording_updates_extension_state(replay, fmt):
    server, connector = replay("register_unregister", fmt)
    wait_until(lambda: connector.writer.flush(1) and [
        (e.extension, e.state) for e in queries.list_extensions(connector.db)] == [("101", "offline")],
        what="101 offline")
    assert outbox(connector) == []
