"""A scripted FreeSWITCH Event Socket server for tests (real TCP, 127.0.0.1, port 0).

Each accepted connection runs ``session(conn)``, a plain function that drives a
``FakeConnection``: send bytes (whole, chunked or trickled), read the client's
commands, reply, replay recorded ``*.esl`` bytes, go silent, drop. With no
session given, ``FakeESLServer.standard_session`` behaves like FreeSWITCH:
auth/request, password check (``-ERR invalid`` + disconnect notice), event
subscription, then ``api``/``bgapi``/``exit`` answered by ``respond``.

    server = FakeESLServer(session=my_script).start()
    ... EventSocketClient("127.0.0.1", server.port, "ClueCon", ...)
    server.stop()
"""

from __future__ import annotations

import ast
import json
import os
import random
import time
import uuid as uuid_mod
from collections.abc import Callable
from pathlib import Path
from typing import Self
from urllib.parse import quote

import gevent
import gevent.event
from gevent.server import StreamServer

FIXTURES = Path(os.environ.get(
    "ESL_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "freeswitch"))

AUTH_REQUEST = b"Content-Type: auth/request\n\n"
GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
CORE_UUID = "105a487f-0000-4000-8000-00000000c0de"


def wait_until(condition: Callable[[], object], timeout: float = 30.0, what: str = "") -> object:
    """Poll ``condition`` (yielding to other greenlets) until truthy or the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        gevent.sleep(0.002)


# -- frame builders -----------------------------------------------------------

def frame(headers: dict[str, str], body: bytes = b"") -> bytes:
    if body:
        headers = {"Content-Length": str(len(body)), **headers}
    return "".join(f"{k}: {v}\n" for k, v in headers.items()).encode() + b"\n" + body


def reply_frame(text: str, **extra: str) -> bytes:
    return frame({"Content-Type": "command/reply", "Reply-Text": text, **extra})


def api_frame(body: str | bytes) -> bytes:
    raw = body.encode() if isinstance(body, str) else body
    return frame({"Content-Type": "api/response"}, raw)


def disconnect_frame(linger: bool = False) -> bytes:
    headers = {"Content-Type": "text/disconnect-notice"}
    if linger:
        headers["Content-Disposition"] = "linger"
    return frame(headers, GOODBYE.encode())


def event_headers(name: str, uuid: str = "", seq: int = 1, **extra: str) -> dict[str, str]:
    headers = {"Event-Name": name, "Core-UUID": CORE_UUID, "Event-Sequence": str(seq)}
    if uuid:
        headers["Unique-ID"] = uuid
    headers.update({k.replace("_", "-"): v for k, v in extra.items()})
    return headers


def json_event(headers: dict, body: str | None = None) -> bytes:
    obj = dict(headers)
    if body is not None:
        obj["Content-Length"] = str(len(body.encode()))
        obj["_body"] = body
    payload = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    return b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(payload) + payload


def plain_event(headers: dict, body: str | None = None, encode: bool = True) -> bytes:
    """``encode=False`` sends values as given (to inject raw bytes or %-escapes)."""
    lines = [f"{k}: {quote(v, safe='') if encode else v}" for k, v in headers.items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body.encode())}")
    payload = ("\n".join(lines) + "\n\n").encode("utf-8", "surrogateescape") + (body or "").encode()
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(payload) + payload


def event_frame(fmt: str, headers: dict, body: str | None = None) -> bytes:
    return json_event(headers, body) if fmt == "json" else plain_event(headers, body)


# -- recordings ---------------------------------------------------------------

def recorded_commands(sent_log: Path) -> list[tuple[int, str]]:
    """``(rx_offset, command)`` for each ``>> '...'`` line of a ``*.sent.log``."""
    steps = []
    for line in sent_log.read_text().splitlines():
        if ">> " not in line:
            continue
        offset = int(line.split("rx_offset=", 1)[1].split()[0])
        steps.append((offset, ast.literal_eval(line.split(">> ", 1)[1])))
    return steps


def replay_session(esl: Path, seed: int = 0) -> Callable[[FakeConnection], None]:
    """A session that replays a recording in lock-step with its ``.sent.log``:
    it sends the bytes up to each recorded command's rx_offset, then waits for
    the client to send a command, in random-sized chunks (framing stress)."""
    data = esl.read_bytes()
    steps = recorded_commands(esl.with_name(esl.name[:-len(".esl")] + ".sent.log"))

    def session(conn: FakeConnection) -> None:
        rng = random.Random(seed)
        pos = 0
        for offset, _command in steps:
            conn.send_chunked(data[pos:offset], rng)
            pos = offset
            if conn.read_command() is None:
                return
        conn.send_chunked(data[pos:], rng)
        conn.serve_exit_only()

    return session


# -- the server -----------------------------------------------------------------

class FakeConnection:
    """The server side of one client connection."""

    def __init__(self, sock, index: int):
        self.sock = sock
        self.index = index  # 0 for the first connection the server accepted
        self.accepted_at = time.monotonic()
        self.commands: list[str] = []
        self.closed = gevent.event.Event()
        self._buf = b""

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def send_chunked(self, data: bytes, rng: random.Random, max_chunk: int = 8192) -> None:
        while data:
            size = rng.randint(1, max_chunk)
            self.send(data[:size])
            data = data[size:]

    def trickle(self, data: bytes, chunk: int = 1, pause: float = 0.0) -> None:
        """Send ``chunk`` bytes at a time, yielding (and pausing) in between."""
        for i in range(0, len(data), chunk):
            self.send(data[i:i + chunk])
            gevent.sleep(pause)

    def reply(self, text: str, **extra: str) -> None:
        self.send(reply_frame(text, **extra))

    def read_command(self, timeout: float | None = None) -> str | None:
        """The next ``...\\n\\n``-terminated command, or None when the client closed."""
        with gevent.Timeout(timeout, False):
            while b"\n\n" not in self._buf:
                data = self.sock.recv(65536)
                if not data:
                    return None
                self._buf += data
            raw, self._buf = self._buf.split(b"\n\n", 1)
            command = raw.decode()
            self.commands.append(command)
            return command
        return None

    def handshake(self, password: str) -> bool:
        """auth/request, the password check, the event subscription reply."""
        self.send(AUTH_REQUEST)
        command = self.read_command()
        if command != f"auth {password}":
            if command is not None:
                self.reply("-ERR invalid")
                self.send(disconnect_frame())
            return False
        self.reply("+OK accepted")
        command = self.read_command()
        if command is None:
            return False
        fmt = command.split()[1] if command.startswith("event ") else "plain"
        self.reply(f"+OK event listener enabled {fmt}")
        return True

    def serve_exit_only(self) -> None:
        """Stay silent until the client says ``exit`` (answered) or hangs up."""
        while (command := self.read_command()) is not None:
            if command == "exit":
                self.reply("+OK bye")
                self.send(disconnect_frame())
                return

    def wait_closed(self) -> None:
        """Go silent: read and ignore until the client closes."""
        while self.read_command() is not None:
            pass

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            self.closed.set()


class FakeESLServer:
    def __init__(self, session: Callable[[FakeConnection], None] | None = None,
                 password: str = "ClueCon"):
        self.password = password
        self.session = session or self.standard_session
        self.connections: list[FakeConnection] = []
        self.api_responses: dict[str, str] = {}
        self.on_command: Callable[[FakeConnection, str], bool] | None = None
        self._server = StreamServer(("127.0.0.1", 0), self._handle)

    @property
    def port(self) -> int:
        return self._server.server_port

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(timeout=1)
        for conn in self.connections:
            conn.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def all_commands(self) -> list[str]:
        return [c for conn in self.connections for c in conn.commands]

    def _handle(self, sock, _address) -> None:
        conn = FakeConnection(sock, len(self.connections))
        self.connections.append(conn)
        try:
            self.session(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def standard_session(self, conn: FakeConnection) -> None:
        if not conn.handshake(self.password):
            return
        while (command := conn.read_command()) is not None:
            if self.on_command is not None and self.on_command(conn, command):
                continue
            if not self.respond(conn, command):
                return

    def respond(self, conn: FakeConnection, command: str) -> bool:
        """FreeSWITCH-like answers; False once the session is over."""
        if command == "exit":
            conn.reply("+OK bye")
            conn.send(disconnect_frame())
            return False
        if command.startswith("api "):
            conn.send(api_frame(self.api_responses.get(
                command[4:], "-ERR nosuchcommand Command not found!\n")))
        elif command.startswith("bgapi "):
            job = command.split("Job-UUID: ", 1)[1] if "Job-UUID: " in command else str(uuid_mod.uuid4())
            conn.reply(f"+OK Job-UUID: {job}", **{"Job-UUID": job})
        else:
            conn.reply("-ERR command not found")
        return True
