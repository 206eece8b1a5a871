"""One inbound Event Socket connection, as ``mod_event_socket``'s listener runs it.

The session's greenlet (spawned by the server) reads commands and answers
them in order; a writer greenlet owned by the session drains a bounded
outbound queue, so a slow client never blocks whoever publishes events. A
client whose queue passes ``max_queue`` frames is disconnected with a log
line (FreeSWITCH drops a listener that misses too many events).

Commands are matched the way ``parse_command`` does it: case-insensitive
prefixes, tried in FreeSWITCH's order; before ``auth`` only ``auth``,
``userauth`` and ``exit`` are understood.

A session reaches its server only through ``SessionHost`` (the commands it
forwards, its limits): ``server.py`` imports this module, never the reverse.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import gevent
from gevent.queue import Queue

from ..esl.protocol import decode_text
from .subscriptions import PublishedEvent, Subscription
from .wire import DEFAULT_GOODBYE, NO_REPLY, api_response, auth_request, command_reply, disconnect_notice

log = logging.getLogger(__name__)

MAX_COMMAND_BYTES = 1024 * 1000  # mod_event_socket CMD_BUFLEN
_END_OF_COMMAND = re.compile(rb"\n\r*\n")
_CLOSE = object()
LOG_LEVELS = ("console", "alert", "crit", "err", "warning", "notice", "info", "debug")


class CommandTooLong(Exception):
    pass


@dataclass
class Command:
    line: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""

    def header(self, name: str) -> str:
        """A header line's value, name case-insensitive ("" when absent)."""
        name = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == name), "")


class CommandReader:
    """Cuts the client byte stream into commands: a command line, optional
    ``Name: value`` lines, an empty line, then ``Content-Length`` body bytes."""

    def __init__(self, max_bytes: int = MAX_COMMAND_BYTES):
        self._buf = bytearray()
        self._pending: Command | None = None
        self._need = 0
        self.max_bytes = max_bytes

    def feed(self, data: bytes) -> list[Command]:
        self._buf += data
        commands = []
        while (command := self._next()) is not None:
            commands.append(command)
        return commands

    def _next(self) -> Command | None:
        if self._pending is None:
            while self._buf[:1] in (b"\r", b"\n"):
                del self._buf[:1]
            end = _END_OF_COMMAND.search(self._buf)
            if end is None:
                if len(self._buf) > self.max_bytes:
                    raise CommandTooLong(f"command longer than {self.max_bytes} bytes")
                return None
            command = _parse_block(bytes(self._buf[: end.start()]))
            del self._buf[: end.end()]
            length = command.header("Content-Length")
            self._need = int(length) if length.isdigit() else 0
            if self._need > self.max_bytes:
                raise CommandTooLong(f"command body of {self._need} bytes")
            if not self._need:
                return command
            self._pending = command
        if len(self._buf) < self._need:
            return None
        command, self._pending = self._pending, None
        command.body = decode_text(bytes(self._buf[: self._need]))
        del self._buf[: self._need]
        return command


def _parse_block(block: bytes) -> Command:
    lines = [decode_text(line.rstrip(b"\r")) for line in block.split(b"\n")]
    command = Command(lines[0])
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep and name:
            command.headers[name] = value.lstrip(" ")
    return command


class SessionHost(Protocol):
    """What a session needs from the server that accepted it (the server
    implements this; the session never imports the server)."""

    password: str
    max_queue: int
    close_timeout: float
    commands_received: list[str]

    def execute_api(self, command: str, args: str) -> tuple[str, Callable[[], None]]:
        """The api body, and a function that publishes the ``API`` event."""

    def spawn_job(self, job_uuid: str, command: str, args: str) -> None:
        """Run a bgapi command in the background; it publishes BACKGROUND_JOB."""

    def send_event(self, line: str, extra: dict[str, str], body: str, event_uuid: str) -> None:
        """Publish the event of a ``sendevent`` command."""


class Session:
    def __init__(self, sock, address, server: SessionHost):
        self.sock = sock
        self.address = address
        self.server = server
        self.authed = False
        self.closed = False
        self.logging = False
        self.subscription = Subscription()
        self._queue: Queue = Queue()
        self._writer: gevent.Greenlet | None = None

    # -- output ------------------------------------------------------------
    def send(self, data: bytes) -> None:
        if self.closed:
            return
        if self._queue.qsize() >= self.server.max_queue:
            log.warning("ESL client %s:%s is not reading (%d frames queued); disconnecting",
                        *self.address[:2], self._queue.qsize())
            self.abort()
            return
        self._queue.put(data)

    def reply(self, text: str, extra: dict[str, str] | None = None) -> None:
        self.send(command_reply(text, extra))

    def deliver(self, event: PublishedEvent) -> None:
        if self.authed and not self.closed and self.subscription.wants(event):
            self.send(event.frame(self.subscription.fmt))

    def _write_loop(self) -> None:
        try:
            while True:
                chunks = [self._queue.get()]
                while not self._queue.empty() and len(chunks) < 256:
                    chunks.append(self._queue.get_nowait())
                done = any(chunk is _CLOSE for chunk in chunks)
                data = b"".join(c for c in chunks if c is not _CLOSE)
                if data:
                    self.sock.sendall(data)
                if done:
                    return
        except OSError as exc:
            log.debug("ESL client %s:%s: write failed: %s", *self.address[:2], exc)
        finally:
            self._close_socket()

    def goodbye(self, notice: str = DEFAULT_GOODBYE) -> None:
        """Disconnect notice, then close once everything queued is written."""
        if not self.closed:
            self._queue.put(disconnect_notice(notice))
            self._queue.put(_CLOSE)
            self.closed = True

    def abort(self) -> None:
        """Close the socket now, dropping whatever is queued (no notice)."""
        self.closed = True
        self._close_socket()
        if self._writer is not None and self._writer is not gevent.getcurrent():
            self._writer.kill(block=False)

    def _close_socket(self) -> None:
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    # -- input -------------------------------------------------------------
    def run(self) -> None:
        """The session's life; returns when the client or the server ends it."""
        self._writer = gevent.spawn(self._write_loop)
        self.send(auth_request())
        reader = CommandReader()
        try:
            while not self.closed:
                data = self.sock.recv(65536)
                if not data:  # the client is done sending: flush what it asked for
                    self.goodbye()
                    break
                for command in reader.feed(data):
                    if self.closed or not self.dispatch(command):
                        return
        except CommandTooLong as exc:
            log.warning("ESL client %s:%s: %s; disconnecting", *self.address[:2], exc)
        except OSError as exc:
            if not self.closed:
                log.debug("ESL client %s:%s: read failed: %s", *self.address[:2], exc)
        finally:
            if not self.closed:
                self.abort()
            self._writer.join(timeout=self.server.close_timeout)
            self.abort()

    def dispatch(self, command: Command) -> bool:
        """Answer one command; False once the session is over."""
        line = command.line
        self.server.commands_received.append(line)
        lowered = line.lower()
        if lowered.startswith(("exit", "...")):
            self.reply("+OK bye")
            self.goodbye()
            return False
        if not self.authed:
            return self._authenticate(line)
        for prefix, handler in _COMMANDS:
            if lowered.startswith(prefix):
                handler(self, command)
                return not self.closed
        self.reply("-ERR command not found")
        return True

    def _authenticate(self, line: str) -> bool:
        lowered = line.lower()
        if lowered.startswith("auth ") and line[5:] == self.server.password:
            self.authed = True
            self.reply("+OK accepted")
            return True
        if lowered.startswith(("auth ", "userauth ")):  # the simulator has no ESL users
            self.reply("-ERR invalid")
            self.goodbye()
            return False
        self.reply("-ERR command not found")
        return True

    # -- commands ----------------------------------------------------------
    def _api(self, command: Command) -> None:
        name, _, args = command.line[4:].partition(" ")
        body, announce = self.server.execute_api(name, args)
        self.send(api_response(body or NO_REPLY))
        announce()

    def _bgapi(self, command: Command) -> None:
        name, _, args = command.line[6:].partition(" ")
        job_uuid = command.header("Job-UUID")[:36] or str(uuid.uuid4())
        self.reply(f"+OK Job-UUID: {job_uuid}", {"Job-UUID": job_uuid})
        self.server.spawn_job(job_uuid, name, args)

    def _sendevent(self, command: Command) -> None:
        event_uuid = str(uuid.uuid4())
        self.reply(f"+OK {event_uuid}")  # the event is queued behind the reply, as in FS
        self.server.send_event(command.line, command.headers, command.body, event_uuid)

    def _log(self, command: Command) -> None:
        level = command.line[4:]
        number = 7
        if level:
            number = int(level) if level.isdigit() else (
                LOG_LEVELS.index(level.lower()) if level.lower() in LOG_LEVELS else -1)
        if number < 0:
            self.reply("-ERR invalid log level")
            return
        self.logging = True  # accepted; the simulator has no log lines to send
        self.reply(f"+OK log level {level} [{number}]")

    def _nolog(self, command: Command) -> None:
        was, self.logging = self.logging, False
        self.reply("+OK no longer logging" if was else "-ERR not loging")

    def _event(self, command: Command) -> None:
        self.reply(self.subscription.subscribe(_words(command.line)))

    def _nixevent(self, command: Command) -> None:
        self.reply(self.subscription.unsubscribe(_words(command.line)))

    def _noevents(self, command: Command) -> None:
        self.reply(self.subscription.clear())

    def _filter(self, command: Command) -> None:
        self.reply(self.subscription.filter(command.line[7:]))

    def _myevents(self, command: Command) -> None:
        self.reply(self.subscription.follow(command.line[9:]))

    def _no_session(self, command: Command) -> None:
        self.reply("-ERR not controlling a session")

    def _divert_events(self, command: Command) -> None:
        self.reply("-ERR not controlling a session.")

    def _sendmsg(self, command: Command) -> None:
        target = command.line[7:].strip() or command.header("session-id")
        self.reply(f"-ERR invalid session id [{target}]")


def _words(line: str) -> list[str]:
    """The words after the command name, split on single spaces like strchr."""
    _, _, rest = line.partition(" ")
    return [word for word in rest.split(" ") if word]


# parse_command's order for an authenticated inbound connection.
_COMMANDS = (
    ("filter ", Session._filter), ("myevents ", Session._myevents),
    ("divert_events", Session._divert_events), ("sendmsg", Session._sendmsg),
    ("sendevent", Session._sendevent), ("api ", Session._api), ("bgapi ", Session._bgapi),
    ("log", Session._log), ("linger", Session._no_session), ("nolinger", Session._no_session),
    ("nolog", Session._nolog), ("event", Session._event), ("nixevent", Session._nixevent),
    ("noevents", Session._noevents),
)
