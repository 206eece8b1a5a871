"""EventSocketServer over real TCP on 127.0.0.1, read back with the client's parser."""

from __future__ import annotations

import logging
import socket
import time

import gevent
import pytest
from gevent.event import Event as Gate

from esl_connector.esl.protocol import (
    Frame,
    FrameParser,
    is_event_frame,
    parse_event,
    parse_frames,
)
from esl_connector.simulator import wire
from esl_connector.simulator.server import EventSocketServer
from esl_connector.simulator.subscriptions import PublishedEvent, Subscription

from recordings import FIXTURES

CORE_UUID = "0d5e0a3c-0000-4000-8000-000000000001"


class FakePbx:
    """The smallest PbxHandler: a few canned api answers, numbered headers."""

    core_uuid = CORE_UUID

    def __init__(self):
        self.sequence = 0
        self.gate = Gate()

    def base_headers(self, event_name):
        self.sequence += 1
        return {"Event-Name": event_name, "Core-UUID": CORE_UUID,
                "Event-Calling-File": "pbx.py", "Event-Calling-Function": "fire",
                "Event-Calling-Line-Number": "1", "Event-Sequence": str(self.sequence)}

    def api(self, command, args):
        if command == "status":
            return "UP 0 years, 0 days\nFreeSWITCH is ready\n"
        if command == "uuid_getvar":
            return "0904824242"
        if command == "slow":
            self.gate.wait()
            return "+OK slow\n"
        if command == "silent":
            return ""
        if command == "boom":
            raise RuntimeError("kaput")
        return f"-ERR {command} Command not found!\n"


def wait_until(condition, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        gevent.sleep(0.002)


class Client:
    def __init__(self, address):
        self.sock = socket.create_connection(address, timeout=3)
        self.parser = FrameParser()
        self.frames: list[Frame] = []
        self.raw = b""

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode() + b"\n\n")

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.raw += data
        self.frames += self.parser.feed(data)
        return bool(data)

    def next(self) -> Frame:
        while not self.frames:
            assert self._fill(), "connection closed"
        return self.frames.pop(0)

    def next_event(self):
        frame = self.next()
        assert is_event_frame(frame), frame
        return parse_event(frame)

    def command(self, text: str) -> str:
        self.send(text)
        frame = self.next()
        assert frame.content_type == "command/reply", frame
        return frame.headers["Reply-Text"]

    def login(self, password="ClueCon", events="") -> Client:
        assert self.next().content_type == "auth/request"
        assert self.command(f"auth {password}") == "+OK accepted"
        if events:
            assert self.command(f"event {events}").startswith("+OK event listener enabled")
        return self

    def read_to_end(self) -> bytes:
        try:
            while self._fill():
                pass
        except ConnectionResetError:  # closed with our unread bytes pending
            pass
        return self.raw

    def close(self):
        self.sock.close()


@pytest.fixture
def pbx():
    return FakePbx()


@pytest.fixture
def server(pbx):
    srv = EventSocketServer(pbx, heartbeat_interval=0)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def connect(server):
    clients = []

    def make(address=None):
        clients.append(Client(address or server.address))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


def marker(server, n="end"):
    server.publish({"Event-Name": "CUSTOM", "Event-Subclass": "test::marker", "n": n})


def test_auth_then_commands(server, connect):
    client = connect()
    assert client.next().content_type == "auth/request"
    assert client.command("api status") == "-ERR command not found"  # before auth
    assert client.command("auth ClueCon") == "+OK accepted"
    wait_until(lambda: server.sessions == 1, what="one session")
    assert client.command("foobar") == "-ERR command not found"
    assert server.commands_received == ["api status", "auth ClueCon", "foobar"]


def test_wrong_password_is_byte_identical_to_freeswitch(connect):
    client = connect()
    client.send("auth WrongPassword")
    assert client.read_to_end() == (FIXTURES / "auth_failure.esl").read_bytes()


def test_exit(connect):
    client = connect().login()
    client.send("exit")
    assert client.read_to_end().endswith(
        b"Content-Type: command/reply\nReply-Text: +OK bye\n\n"
        b"Content-Type: text/disconnect-notice\nContent-Length: 67\n\n"
        b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n")


def test_plain_and_json_subscribers_get_their_format(server, connect):
    plain = connect().login(events="plain ALL")
    as_json = connect().login()
    assert as_json.command("event json CHANNEL_CREATE") == "+OK event listener enabled json"
    headers = {"Event-Name": "CHANNEL_CREATE", "Caller-Caller-ID-Name": "Nguyễn Văn A",
               "variable_DP_MATCH": ["19001234", "19001234"], "Unique-ID": "u1"}
    server.publish(headers)
    for client, kind in ((plain, "text/event-plain"), (as_json, "text/event-json")):
        frame = client.next()
        assert frame.content_type == kind
        assert parse_event(frame).headers == headers


def test_event_names_custom_subclasses_and_nixevent(server, connect):
    client = connect().login(events="plain CHANNEL_ANSWER")
    assert client.command("event plain CUSTOM test::marker sofia::register") == \
        "+OK event listener enabled plain"
    assert client.command("event plain") == "-ERR no keywords supplied"
    server.publish({"Event-Name": "CHANNEL_CREATE"})
    server.publish({"Event-Name": "CUSTOM", "Event-Subclass": "sofia::pre_register"})
    server.publish({"Event-Name": "CUSTOM", "Event-Subclass": "sofia::register"})
    server.publish({"Event-Name": "CHANNEL_ANSWER"})
    assert client.next_event().subclass == "sofia::register"
    assert client.next_event().name == "CHANNEL_ANSWER"
    assert client.command("nixevent CHANNEL_ANSWER CUSTOM sofia::register") == "+OK events nixed"
    server.publish({"Event-Name": "CHANNEL_ANSWER"})
    server.publish({"Event-Name": "CUSTOM", "Event-Subclass": "sofia::register"})
    marker(server)
    assert client.next_event().get("n") == "end"


def test_nixevent_after_all_and_noevents(server, connect):
    client = connect().login(events="plain ALL")
    assert client.command("nixevent HEARTBEAT") == "+OK events nixed"
    server.publish({"Event-Name": "HEARTBEAT"})
    server.publish({"Event-Name": "RE_SCHEDULE"})
    assert client.next_event().name == "RE_SCHEDULE"
    assert client.command("noevents") == "+OK no longer listening for events"
    assert client.command("noevents") == "-ERR not listening for events"
    server.publish({"Event-Name": "RE_SCHEDULE"})
    client.send("api status")
    assert client.next().content_type == "api/response"


def test_filters(server, connect):
    client = connect().login(events="plain ALL")
    assert client.command("filter Unique-ID abc") == "+OK filter added. [Unique-ID]=[abc]"
    assert client.command("filter add Unique-ID /^de+f$/") == \
        "+OK filter added. [Unique-ID]=[/^de+f$/]"
    assert client.command("filter Unique-ID") == "-ERR invalid syntax"
    for uuid in ("xyz", "ABC", "deeef", "zzz"):
        server.publish({"Event-Name": "CHANNEL_CREATE", "Unique-ID": uuid})
    assert client.next_event().uuid == "ABC"  # plain values compare case-insensitively
    assert client.next_event().uuid == "deeef"
    assert client.command("filter delete Unique-ID abc") == "+OK filter deleted. [Unique-ID][abc]"
    assert client.command("filter delete all") == "+OK filter deleted. [all][]"
    server.publish({"Event-Name": "CHANNEL_CREATE", "Unique-ID": "xyz"})
    assert client.next_event().uuid == "xyz"


def test_subscription_filter_semantics():
    sub = Subscription(enabled=True, events={"ALL"})

    def wants(**headers):
        return sub.wants(PublishedEvent({"Event-Name": "CHANNEL_CREATE", **headers}))

    sub.filter("Call-Direction inbound")
    sub.filter("Unique-ID -bad")
    assert wants(**{"Call-Direction": "inbound"})
    assert not wants(**{"Call-Direction": "inbound", "Unique-ID": "bad"})
    assert not wants(**{"Call-Direction": "outbound"})
    assert not wants()  # once a filter exists, an event must match one
    assert Subscription().filter("delete") == "-ERR invalid syntax"


def test_api_response_then_api_event(server, connect, pbx):
    client = connect().login(events="plain API")
    client.send("api uuid_getvar 5ca8 origination_caller_id_number")
    response = client.next()
    assert (response.content_type, response.text) == ("api/response", "0904824242")
    event = client.next_event()
    assert (event.get("API-Command"), event.get("API-Command-Argument")) == \
        ("uuid_getvar", "5ca8 origination_caller_id_number")
    assert event.get("Event-Calling-Function") == "switch_api_execute"
    client.send("api status")
    assert client.next().text == pbx.api("status", "")
    assert "API-Command-Argument" not in client.next_event().headers
    client.send("api silent")
    assert client.next().text == "-ERR no reply\n"
    assert client.next_event().get("API-Command") == "silent"
    client.send("api boom now")
    assert client.next().text.startswith("-ERR boom")
    assert client.next_event().get("API-Command") == "boom"


def test_bgapi_reply_then_background_job(server, connect):
    client = connect().login(events="json BACKGROUND_JOB")
    other = connect().login(events="plain BACKGROUND_JOB")
    client.send("bgapi originate {origination_uuid=abc}user/101 &park()")
    reply = client.next()
    job = reply.headers["Job-UUID"]
    assert reply.headers["Reply-Text"] == f"+OK Job-UUID: {job}"
    assert list(reply.headers) == ["Content-Type", "Reply-Text", "Job-UUID"]
    for receiver in (client, other):  # a job result goes to every subscriber
        event = receiver.next_event()
        assert list(event.headers)[-4:] == ["Job-UUID", "Job-Command", "Job-Command-Arg",
                                            "Content-Length"]
        assert (event.get("Job-UUID"), event.get("Job-Command"), event.get("Job-Command-Arg")) \
            == (job, "originate", "{origination_uuid=abc}user/101 &park()")
        assert event.body == "-ERR originate Command not found!\n"
        assert event.get("Event-Calling-File") == "mod_event_socket.c"


def test_bgapi_caller_job_uuid_and_no_blocking(server, connect, pbx):
    client = connect().login(events="plain BACKGROUND_JOB")
    job = "11111111-2222-3333-4444-555555555555"
    client.send(f"bgapi slow\nJob-UUID: {job}")
    assert client.next().headers["Job-UUID"] == job
    client.send("api status")  # answered while the job still runs
    assert client.next().content_type == "api/response"
    pbx.gate.set()
    event = client.next_event()
    assert (event.get("Job-UUID"), event.body) == (job, "+OK slow\n")
    assert "Job-Command-Arg" not in event.headers
    assert server.commands_received[-2:] == ["bgapi slow", "api status"]


def test_heartbeat(pbx):
    server = EventSocketServer(pbx, heartbeat_interval=0.05)
    server.start()
    try:
        client = Client(server.address).login(events="plain HEARTBEAT")
        beat = client.next_event()
        assert beat.name == "HEARTBEAT"
        assert beat.get("Event-Info") == "System Ready"
        assert beat.get("Event-Calling-Function") == "send_heartbeat"
        assert beat.get("Up-Time").startswith("0 years, 0 days, 0 hours, 0 minutes")
        assert client.next_event().name == "HEARTBEAT"  # RE_SCHEDULE not subscribed
        client.close()
    finally:
        server.stop()


def test_sendevent_and_small_commands(server, connect):
    client = connect().login(events="plain CUSTOM crm::test")
    reply = client.command("sendevent CUSTOM\nEvent-Subclass: crm::test\nX-Ticket: 42")
    event = client.next_event()
    assert reply == f"+OK {event.get('Event-UUID')}"
    assert (event.subclass, event.get("X-Ticket"), event.get("Core-UUID")) == \
        ("crm::test", "42", CORE_UUID)
    assert client.command("log debug") == "+OK log level debug [7]"
    assert client.command("nolog") == "+OK no longer logging"
    assert client.command("linger") == "-ERR not controlling a session"
    assert client.command("sendmsg abc") == "-ERR invalid session id [abc]"
    assert client.command("myevents u1 json") == "+OK Events Enabled"
    server.publish({"Event-Name": "CHANNEL_ANSWER", "Unique-ID": "u2"})
    server.publish({"Event-Name": "CHANNEL_ANSWER", "Unique-ID": "u1"})
    frame = client.next()
    assert frame.content_type == "text/event-json" and parse_event(frame).uuid == "u1"


def test_drop_connections_stop_and_restart_on_same_port(server, connect):
    first = connect().login()
    server.drop_connections()
    assert b"disconnect-notice" not in first.read_to_end()
    wait_until(lambda: server.sessions == 0, what="no sessions")
    second = connect().login()  # still listening
    port = server.port
    server.stop()
    assert second.read_to_end().endswith(wire.disconnect_notice(wire.SHUTDOWN_NOTICE))
    with pytest.raises(OSError):
        Client(server.address)
    server.start()
    assert server.port == port
    connect().login()
    wait_until(lambda: server.sessions == 1, what="a session after restart")


def test_garbage_and_broken_clients_do_not_hurt_others(server, connect):
    good = connect().login()
    noisy = connect()
    noisy.sock.sendall(b"\x00\xff\xfe garbage\nno colon here\n\n\r\n\r\n")
    assert noisy.next().content_type == "auth/request"
    assert noisy.next().headers["Reply-Text"] == "-ERR command not found"
    noisy.sock.sendall(b"x" * 1_100_000)  # a command line longer than FreeSWITCH's buffer
    noisy.read_to_end()
    half = connect()
    half.sock.sendall(b"auth Clue")
    half.close()
    wait_until(lambda: server.sessions == 1, what="only the good session left")
    good.send("api status")
    assert good.next().content_type == "api/response"


def test_slow_client_is_dropped_without_stalling_others(pbx, caplog):
    server = EventSocketServer(pbx, heartbeat_interval=0, max_queue=50)
    server.start()
    slow = Client(server.address).login(events="plain ALL")  # never reads again
    fast = Client(server.address).login(events="plain ALL")
    received = []
    reader = gevent.spawn(lambda: received.extend(iter(fast.next, None)))
    published = 0
    try:
        with caplog.at_level(logging.WARNING):
            while server.sessions == 2 and published < 5000:  # ~80 MB at most
                for _ in range(20):
                    server.publish({"Event-Name": "CUSTOM", "n": str(published)}, "x" * 16384)
                    published += 1
                wait_until(lambda n=published: len(received) == n, what="the fast client")
        assert server.sessions == 1, "the slow client was never dropped"
        assert parse_event(received[-1]).get("n") == str(published - 1)
        assert "is not reading" in caplog.text
    finally:
        reader.kill()
        slow.close()
        fast.close()
        server.stop()


def test_half_closed_client_still_gets_its_answer(connect):
    client = connect().login()
    client.send("api status")
    client.sock.shutdown(socket.SHUT_WR)
    frames = parse_frames(client.read_to_end())
    assert [f.content_type for f in frames][-2:] == ["api/response", "text/disconnect-notice"]
