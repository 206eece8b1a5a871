"""EventSocketClient against a scripted fake FreeSWITCH over real TCP.

Every wait is a condition with a deadline (``wait_until``); the only sleeps
are inside server scripts, where they model a slow or silent FreeSWITCH.
"""

from __future__ import annotations

import logging

import gevent
import gevent.event
import pytest

from esl_connector.esl.client import (
    ClientStatus,
    CommandError,
    CommandTimeout,
    EventSocketClient,
    JobResult,
    NotConnected,
)
from esl_connector.esl.subscription import subscribe_command

from esl_fake_server import (
    AUTH_REQUEST,
    CORE_UUID,
    FakeESLServer,
    api_frame,
    disconnect_frame,
    event_frame,
    event_headers,
    frame,
    json_event,
    plain_event,
    reply_frame,
    wait_until,
)

pytestmark = pytest.mark.timeout(60)  # a loaded machine: seconds per test

PASSWORD = "ClueCon"
UUID_A = "6f1c2f5e-0000-4000-8000-00000000000a"


class Recorder:
    """The app side: what on_event / on_connect / on_disconnect saw."""

    def __init__(self):
        self.events = []
        self.connects = 0
        self.disconnects: list[str] = []

    def on_event(self, event):
        self.events.append(event)

    def on_connect(self, client):
        self.connects += 1

    def on_disconnect(self, reason):
        self.disconnects.append(reason)

    def names(self, skip=("HEARTBEAT",)):
        return [e.name for e in self.events if e.name not in skip]


@pytest.fixture
def servers():
    started = []

    def serve(session=None, password=PASSWORD):
        server = FakeESLServer(session, password=password).start()
        started.append(server)
        return server

    yield serve
    for server in started:
        server.stop()


@pytest.fixture
def clients():
    made = []

    def make(server, password=PASSWORD, rec=None, **options):
        rec = rec or Recorder()
        settings = {"event_format": "json", "on_event": rec.on_event,
                    "on_connect": rec.on_connect, "on_disconnect": rec.on_disconnect,
                    "command_timeout": 2.0, "connect_timeout": 2.0, "heartbeat_timeout": 5.0,
                    "backoff_initial": 0.01, "backoff_max": 0.05}
        settings.update(options)
        client = EventSocketClient("127.0.0.1", server.port, password, **settings)
        made.append(client)
        client.start()
        return client, rec

    yield make
    for client in made:
        client.stop(timeout=1)


def connected(client, rec, count=1):
    wait_until(lambda: client.connected and rec.connects >= count, what=f"connection #{count}")


def our_records(caplog, level):
    return [r for r in caplog.records if r.name.startswith("esl_connector") and r.levelno == level]


def scripted(servers, first, password=PASSWORD):
    """Server whose first connection runs ``first(conn)`` after the handshake."""
    holder = {}

    def session(conn):
        server = holder["server"]
        if conn.index == 0:
            if conn.handshake(server.password):
                first(conn)
        else:
            server.standard_session(conn)

    holder["server"] = servers(session, password)
    return holder["server"]


# -- connect, subscribe, commands ----------------------------------------------

@pytest.mark.parametrize("fmt", ["json", "plain"])
def test_connect_auth_subscribe_sends_exact_commands(servers, clients, fmt):
    server = servers()
    client, rec = clients(server, event_format=fmt)
    connected(client, rec)
    assert server.connections[0].commands == [f"auth {PASSWORD}", subscribe_command(fmt)]
    assert subscribe_command(fmt).startswith(f"event {fmt} CHANNEL_CREATE ")


def test_api_returns_body_and_check_raises_command_error(servers, clients):
    server = servers()
    server.api_responses = {"uuid_getvar x y": "0904824242", "status": "UP 0 years\n"}
    client, rec = clients(server)
    connected(client, rec)
    assert client.api("uuid_getvar x y") == "0904824242"
    assert client.api("status", check=True) == "UP 0 years\n"
    assert client.api("nosuchcommand foo") == "-ERR nosuchcommand Command not found!\n"
    with pytest.raises(CommandError) as err:
        client.api("nosuchcommand foo", check=True)
    assert str(err.value) == "nosuchcommand Command not found!"
    assert client.command("foobar") == "-ERR command not found"


def test_not_connected_and_multiline_commands_are_refused(servers, clients):
    server = servers()
    client = EventSocketClient("127.0.0.1", server.port, PASSWORD, on_event=print)
    with pytest.raises(NotConnected):
        client.api("status")
    client, rec = clients(server)
    connected(client, rec)
    with pytest.raises(ValueError):
        client.api("status\n\nexit")
    with pytest.raises(ValueError):
        client.bgapi("originate user/101 &park()", job_uuid="x\nEvil: 1")


def test_concurrent_api_calls_are_matched_fifo(servers, clients):
    server = servers()
    server.api_responses = {f"echo {i}": f"reply {i}" for i in range(20)}
    client, rec = clients(server)
    connected(client, rec)
    jobs = [gevent.spawn(client.api, f"echo {i}") for i in range(20)]
    gevent.joinall(jobs, raise_error=True)
    assert [job.value for job in jobs] == [f"reply {i}" for i in range(20)]


def test_bgapi_job_result_before_and_after_events(servers, clients):
    """The first job's BACKGROUND_JOB is glued to the bgapi reply (same TCP
    write, before the caller runs again); the second comes after other events."""
    def on_command(conn, command):
        if command == "bgapi originate user/101 &park()":
            job = "aaaaaaaa-0000-4000-8000-000000000001"
            conn.send(reply_frame(f"+OK Job-UUID: {job}", **{"Job-UUID": job})
                      + json_event(event_headers("BACKGROUND_JOB", seq=2, Job_UUID=job,
                                                 Job_Command="originate"), "-ERR USER_BUSY\n")
                      + json_event(event_headers("CHANNEL_CREATE", UUID_A, seq=3)))
            return True
        if command.startswith("bgapi status\nJob-UUID: "):
            job = command.split("Job-UUID: ")[1]
            conn.reply(f"+OK Job-UUID: {job}", **{"Job-UUID": job})
            conn.send(json_event(event_headers("CHANNEL_ANSWER", UUID_A, seq=4)))
            conn.send(json_event(event_headers("BACKGROUND_JOB", seq=5, Job_UUID=job),
                                 f"+OK {UUID_A}\n"))
            return True
        return False

    server = servers()
    server.on_command = on_command
    client, rec = clients(server)
    connected(client, rec)
    busy = client.bgapi("originate user/101 &park()")
    assert busy.job_uuid == "aaaaaaaa-0000-4000-8000-000000000001"
    assert busy.wait(2) == JobResult(ok=False, text="USER_BUSY")
    chosen = "11111111-2222-3333-4444-555555555555"
    answered = client.bgapi("status", job_uuid=chosen)
    assert answered.job_uuid == chosen
    assert answered.wait(2) == JobResult(ok=True, text=UUID_A)
    assert server.connections[0].commands[-1] == f"bgapi status\nJob-UUID: {chosen}"
    wait_until(lambda: len(rec.events) == 4)
    assert rec.names() == ["BACKGROUND_JOB", "CHANNEL_CREATE", "CHANNEL_ANSWER", "BACKGROUND_JOB"]
    assert rec.events[0].body == "-ERR USER_BUSY\n"


def test_api_timeout_resets_connection(servers, clients):
    server = servers()
    server.on_command = lambda conn, command: command == "api slow"  # never answered
    server.api_responses = {"status": "UP\n"}
    client, rec = clients(server)
    connected(client, rec)
    with pytest.raises(CommandTimeout):
        client.api("slow", timeout=0.2)
    connected(client, rec, count=2)
    assert len(server.connections) == 2
    assert "no reply to 'api slow' within 0.2 s" in rec.disconnects[0]
    assert client.api("status") == "UP\n"


def test_stop_sends_exit_and_status_reports(servers, clients):
    server = servers()
    client, rec = clients(server)
    connected(client, rec)
    server.connections[0].send(json_event(event_headers("HEARTBEAT", seq=7)))
    wait_until(lambda: rec.events)
    status = client.status()
    assert isinstance(status, ClientStatus)
    assert status.connected and status.events_received == 1 and status.reconnects == 0
    assert status.core_uuid == CORE_UUID and status.since and status.last_frame_at
    client.stop(timeout=1)
    assert server.connections[0].commands[-1] == "exit"
    assert not client.connected and not client.status().connected


# -- authentication and refusals ------------------------------------------------

def test_wrong_password_logs_once_then_recovers(servers, clients, caplog):
    caplog.set_level(logging.DEBUG, logger="esl_connector")
    server = servers(password="ClueCon")
    client, rec = clients(server, password="WrongPassword", backoff_max=0.06)
    wait_until(lambda: len(server.connections) >= 4, what="4 auth attempts")
    errors = our_records(caplog, logging.ERROR)
    assert len(errors) == 1
    assert errors[0].getMessage() == (
        f"FreeSWITCH at 127.0.0.1:{server.port} rejected the event-socket password "
        "(check esl.password / event_socket.conf.xml)")
    gaps = [b.accepted_at - a.accepted_at for a, b in zip(server.connections, server.connections[1:])]
    assert min(gaps) >= 0.025, gaps  # retried at the maximum backoff, not spinning
    assert rec.connects == 0 and "password" in client.status().last_error
    server.password = "WrongPassword"  # the operator fixes event_socket.conf.xml
    connected(client, rec)
    assert len(our_records(caplog, logging.ERROR)) == 1
    assert "WrongPassword" not in caplog.text


def test_rude_rejection_names_the_acl_setting(servers, clients, caplog):
    caplog.set_level(logging.INFO, logger="esl_connector")
    state = {"allowed": False}

    def session(conn):
        if not state["allowed"]:
            conn.send(frame({"Content-Type": "text/rude-rejection"}, b"Access Denied, go away.\n"))
            return
        server.standard_session(conn)

    server = servers(session)
    client, rec = clients(server)
    wait_until(lambda: len(server.connections) >= 3)
    errors = our_records(caplog, logging.ERROR)
    assert len(errors) == 1 and "apply-inbound-acl" in errors[0].getMessage()
    assert "Access Denied, go away." in errors[0].getMessage()
    assert "apply-inbound-acl" in client.status().last_error
    state["allowed"] = True
    connected(client, rec)


def test_server_silent_before_auth_request(servers, clients, caplog):
    caplog.set_level(logging.INFO, logger="esl_connector")

    def session(conn):
        if conn.index == 0:
            conn.wait_closed()  # accepts, never says auth/request
        else:
            server.standard_session(conn)

    server = servers(session)
    client, rec = clients(server, connect_timeout=1.0)  # the second one answers at once: never reached
    connected(client, rec)
    warnings = our_records(caplog, logging.WARNING)
    assert len(warnings) == 1 and "no auth/request" in warnings[0].getMessage()


# -- disconnections -------------------------------------------------------------

@pytest.mark.parametrize("linger", [False, True])
def test_disconnect_notice(servers, clients, linger):
    def first(conn):
        conn.send(disconnect_frame(linger=linger))
        if linger:  # FreeSWITCH keeps sending until the linger time is over
            conn.send(json_event(event_headers("CHANNEL_HANGUP_COMPLETE", UUID_A, seq=9)))
            conn.read_command(timeout=0.2)
        # then FreeSWITCH closes the socket

    server = scripted(servers, first)
    client, rec = clients(server)
    connected(client, rec, count=2)
    if linger:
        assert rec.names() == ["CHANNEL_HANGUP_COMPLETE"]
        assert "closed the connection" in rec.disconnects[0]
    else:
        assert "disconnect notice (Disconnected, goodbye.)" in rec.disconnects[0]


def test_server_drop_mid_call_reconnects(servers, clients):
    def first(conn):
        conn.send(json_event(event_headers("CHANNEL_CREATE", UUID_A, seq=1)))
        assert conn.read_command().startswith("bgapi originate")
        conn.reply("+OK Job-UUID: j-1", **{"Job-UUID": "j-1"})
        conn.send(json_event(event_headers("CHANNEL_ANSWER", UUID_A, seq=2)))
        # FreeSWITCH restarts: the socket drops before the BACKGROUND_JOB

    server = scripted(servers, first)
    client, rec = clients(server)
    connected(client, rec)
    job = client.bgapi("originate user/101 &park()")
    with pytest.raises(NotConnected):
        job.wait(3)
    connected(client, rec, count=2)
    server.connections[1].send(json_event(event_headers("CHANNEL_HANGUP_COMPLETE", UUID_A, seq=3)))
    wait_until(lambda: len(rec.events) == 3)
    assert rec.names() == ["CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE"]
    assert len(rec.disconnects) == 1 and "closed the connection" in rec.disconnects[0]
    assert client.status().reconnects == 1 and client.status().connected


def test_heartbeat_watchdog_reconnects(servers, clients):
    def first(conn):
        for seq in range(8):  # 1.6 s of heartbeats keep a 1 s watchdog happy (a loaded hub may lag 0.8 s)
            conn.send(json_event(event_headers("HEARTBEAT", seq=seq)))
            gevent.sleep(0.2)
        conn.wait_closed()  # then FreeSWITCH hangs: the TCP socket stays open

    server = scripted(servers, first)
    client, rec = clients(server, heartbeat_timeout=1.0)
    connected(client, rec, count=2)
    assert [e.name for e in rec.events] == ["HEARTBEAT"] * 8
    first_conn, second_conn = server.connections[:2]
    assert second_conn.accepted_at - first_conn.accepted_at >= 2.2  # the last heartbeat at 1.4 s, + 1 s
    assert "nothing received from" in rec.disconnects[0] and "for 1 s" in rec.disconnects[0]


# -- hostile or odd bytes ---------------------------------------------------------

BAD_STREAMS = {
    "huge-content-length": (b"Content-Length: 99999999999\nContent-Type: text/event-json\n\n",
                            "exceeds"),
    "bad-content-length": (b"Content-Length: 12x\nContent-Type: text/event-json\n\n", "bad Content-Length"),
    "binary-garbage": (bytes(range(256)).replace(b"\n", b"") * 300, "header block exceeds"),
    "garbage-lines": (b"\x00\xff\xfegarbage\x01\n\n", "header line without ':'"),
    "truncated-then-close": (b"Content-Length: 500\nContent-Type: text/event-json\n\n{\"Event-Na",
                             "closed the connection"),
}


@pytest.mark.parametrize("case", sorted(BAD_STREAMS))
def test_bad_stream_causes_one_warning_and_reconnect(servers, clients, caplog, case):
    caplog.set_level(logging.INFO, logger="esl_connector")
    data, reason = BAD_STREAMS[case]

    def first(conn):
        conn.send(json_event(event_headers("CHANNEL_CREATE", UUID_A)))
        conn.read_command(timeout=0.1)  # let the good event go in its own read
        conn.send(data)
        if case != "truncated-then-close":
            conn.wait_closed()

    server = scripted(servers, first)
    client, rec = clients(server)
    connected(client, rec, count=2)
    assert rec.names() == ["CHANNEL_CREATE"]
    warnings = our_records(caplog, logging.WARNING)
    assert len(warnings) == 1, [w.getMessage() for w in warnings]
    message = warnings[0].getMessage()
    assert reason in message and f"127.0.0.1:{server.port}" in message
    assert reason in client.status().last_error


def test_unreadable_event_is_skipped_and_the_stream_goes_on(servers, clients, caplog):
    """Framing is intact, so one bad event body costs that event only."""
    caplog.set_level(logging.INFO, logger="esl_connector")

    def first(conn):
        conn.send(b"Content-Length: 9\nContent-Type: text/event-json\n\nnot json!")
        conn.send(json_event(event_headers("CHANNEL_CREATE", UUID_A)))
        conn.wait_closed()

    server = scripted(servers, first)
    client, rec = clients(server)
    connected(client, rec, count=1)
    wait_until(lambda: rec.names() == ["CHANNEL_CREATE"], what="the good event")
    warnings = our_records(caplog, logging.WARNING)
    assert len(warnings) == 1 and "not JSON" in warnings[0].getMessage()
    assert client.connected and client.status().reconnects == 0


def test_unknown_content_type_is_skipped(servers, clients, caplog):
    caplog.set_level(logging.INFO, logger="esl_connector")

    def first(conn):
        conn.send(frame({"Content-Type": "text/x-new-thing"}, b"whatever\n\n\n"))
        conn.send(json_event(event_headers("CHANNEL_CREATE", UUID_A)))
        conn.serve_exit_only()

    server = scripted(servers, first)
    client, rec = clients(server)
    wait_until(lambda: rec.events)
    assert rec.names() == ["CHANNEL_CREATE"] and client.connected and rec.connects == 1
    assert any("text/x-new-thing" in r.getMessage() for r in our_records(caplog, logging.WARNING))


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_forged_header_stays_inside_value(servers, clients, fmt):
    forged = "Evil\nEvent-Name: EVIL\nUnique-ID: forged"
    if fmt == "plain":
        body = plain_event({"Event-Name": "CHANNEL_CREATE", "Unique-ID": UUID_A,
                            "Caller-Caller-ID-Name": "Evil%0AEvent-Name%3A%20EVIL%0AUnique-ID%3A%20forged"},
                           encode=False)
    else:
        body = json_event({"Event-Name": "CHANNEL_CREATE", "Unique-ID": UUID_A,
                           "Caller-Caller-ID-Name": forged})
    server = scripted(servers, lambda conn: (conn.send(body), conn.serve_exit_only()))
    _client, rec = clients(server, event_format=fmt)
    wait_until(lambda: rec.events)
    event = rec.events[0]
    assert event.name == "CHANNEL_CREATE" and event.uuid == UUID_A
    assert event.get("Caller-Caller-ID-Name") == forged
    assert "EVIL" not in event.headers


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_utf8_split_across_reads(servers, clients, fmt):
    name = "Nguyễn Văn Đức"
    data = event_frame(fmt, event_headers("CHANNEL_CREATE", UUID_A, Caller_Caller_ID_Name=name))
    if fmt == "plain":  # FreeSWITCH would %-encode; raw bytes are the harder case
        data = plain_event(event_headers("CHANNEL_CREATE", UUID_A, Caller_Caller_ID_Name=name),
                           encode=False)
    cut = data.index("ễ".encode()) + 1  # inside the 3-byte character

    def first(conn):
        conn.send(data[:cut])
        gevent.sleep(0.05)  # the client reads the first half on its own
        conn.send(data[cut:])
        conn.serve_exit_only()

    server = scripted(servers, first)
    _client, rec = clients(server, event_format=fmt)
    wait_until(lambda: rec.events)
    assert rec.events[0].get("Caller-Caller-ID-Name") == name


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_non_utf8_bytes_survive(servers, clients, fmt):
    if fmt == "plain":
        data = plain_event({"Event-Name": "CHANNEL_CREATE", "Caller-Caller-ID-Name": "Jos%E9 \udcff"},
                           encode=False)
    else:
        payload = b'{"Event-Name":"CHANNEL_CREATE","Caller-Caller-ID-Name":"Jos\xe9 \xff"}'
        data = frame({"Content-Type": "text/event-json"}, payload)
    server = scripted(servers, lambda conn: (conn.send(data), conn.serve_exit_only()))
    client, rec = clients(server, event_format=fmt)
    wait_until(lambda: rec.events)
    assert rec.events[0].get("Caller-Caller-ID-Name") == "Jos\\xe9 \\xff"
    assert client.connected and rec.connects == 1


def test_slow_trickling_server(servers, clients):
    events = [event_headers("CHANNEL_CREATE", UUID_A, seq=1), event_headers("CHANNEL_ANSWER", UUID_A, seq=2)]

    def session(conn):
        conn.trickle(AUTH_REQUEST)
        conn.read_command()
        conn.trickle(reply_frame("+OK accepted"))
        conn.read_command()
        conn.trickle(reply_frame("+OK event listener enabled json"))
        for headers in events:
            conn.trickle(json_event(headers, "body ü\n"))
        conn.read_command()
        conn.trickle(api_frame("+OK Đức\n"))
        conn.serve_exit_only()

    server = servers(session)
    client, rec = clients(server)
    connected(client, rec)
    wait_until(lambda: len(rec.events) == 2)
    length = str(len("body ü\n".encode()))
    assert [e.headers for e in rec.events] == [{**h, "Content-Length": length} for h in events]
    assert [e.body for e in rec.events] == ["body ü\n"] * 2
    assert client.api("status") == "+OK Đức\n"


# -- the app side -------------------------------------------------------------------

def test_handler_exception_is_logged_and_stream_continues(servers, clients, caplog):
    caplog.set_level(logging.INFO, logger="esl_connector")
    rec = Recorder()

    def on_event(event):
        if event.name == "CHANNEL_CREATE":
            raise RuntimeError("CRM bug")
        rec.events.append(event)

    seq = [json_event(event_headers(n, UUID_A, seq=i))
           for i, n in enumerate(["CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE"])]
    server = scripted(servers, lambda conn: (conn.send(b"".join(seq)), conn.serve_exit_only()))
    clients(server, rec=rec, on_event=on_event)
    wait_until(lambda: len(rec.events) == 2)
    assert rec.names() == ["CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE"]
    errors = our_records(caplog, logging.ERROR)
    assert len(errors) == 1
    assert "CHANNEL_CREATE" in errors[0].getMessage() and UUID_A in errors[0].getMessage()
    assert errors[0].exc_info and rec.connects == 1


def test_full_queue_blocks_the_reader(servers, clients):
    release = gevent.event.Event()
    rec = Recorder()

    def on_event(event):
        release.wait()
        rec.events.append(event)

    total = 200
    data = b"".join(json_event(event_headers("CHANNEL_CREATE", f"u{i}", seq=i)) for i in range(total))
    server = scripted(servers, lambda conn: (conn.send(data), conn.serve_exit_only()))
    client, _ = clients(server, rec=rec, on_event=on_event, queue_size=5)
    wait_until(lambda: client.status().events_received >= 6)
    with pytest.raises(AssertionError):  # the reader stays blocked: it stops reading
        wait_until(lambda: client.status().events_received > 5 + 2, timeout=0.1)
    assert client._queue.qsize() <= 5
    release.set()
    wait_until(lambda: len(rec.events) == total)
    assert [e.uuid for e in rec.events] == [f"u{i}" for i in range(total)]
    assert client.connected and rec.connects == 1


def test_logs_use_module_loggers_and_hide_password(servers, clients, caplog):
    caplog.set_level(logging.DEBUG)
    server = servers(password="secret-pw-1")
    client, rec = clients(server, password="secret-pw-2")
    wait_until(lambda: len(server.connections) >= 2)
    server.password = "secret-pw-2"
    connected(client, rec)
    client.api("status")
    mine = [r for r in caplog.records if r.name.startswith("esl_connector")]
    assert mine and all(r.name in ("esl_connector.esl.client", "esl_connector.esl.connection")
                        for r in mine)
    assert not [r for r in caplog.records if r.name == "root"]
    assert "secret-pw" not in caplog.text
