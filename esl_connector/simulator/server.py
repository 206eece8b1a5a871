"""The simulator's Event Socket server: inbound ESL over TCP, like FreeSWITCH's
``mod_event_socket`` (defaults 127.0.0.1, password ``ClueCon``).

The PBX side is a ``PbxHandler``: it answers ``api``/``bgapi`` commands and
supplies the standard event headers; the server owns the sockets, the
sessions (``session.py``, which sees the server only as its ``SessionHost``),
who gets which event (``subscriptions.py``) and the bytes (``wire.py``).
Events the server fires itself, as FreeSWITCH's core and ``mod_event_socket``
do: ``API`` for every api/bgapi command, ``BACKGROUND_JOB`` with a bgapi
result, ``HEARTBEAT`` + ``RE_SCHEDULE``.

Greenlets and their owners: connection greenlets in ``_connections`` (one per
client, each owning its writer greenlet), bgapi jobs in ``_jobs`` (a job
outlives the client that asked for it, as in FreeSWITCH), the heartbeat
greenlet. ``stop()`` ends them all.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from typing import Protocol

import gevent
from gevent.pool import Group, Pool
from gevent.server import StreamServer

from .heartbeat import run_heartbeat, set_origin
from .session import Session
from .subscriptions import PublishedEvent, event_type
from .wire import SHUTDOWN_NOTICE, Headers

log = logging.getLogger(__name__)

DEFAULT_MAX_QUEUE = 100_000  # mod_event_socket MAX_QUEUE_LEN
API_ORIGIN = ("switch_loadable_module.c", "switch_api_execute", "2954")
JOB_ORIGIN = ("mod_event_socket.c", "api_exec", "1572")


class PbxHandler(Protocol):
    """What the server needs from the simulated PBX."""

    core_uuid: str

    def api(self, command: str, args: str) -> str:
        """The api/response body for ``api <command> <args>`` (``args`` is ""
        when there are none). May block the calling greenlet (``originate``)."""

    def base_headers(self, event_name: str) -> dict[str, str]:
        """``Event-Name`` ... ``Event-Sequence``: the headers FreeSWITCH puts
        first on every event, with the next sequence number."""


class EventSocketServer:
    def __init__(self, handler: PbxHandler, host: str = "127.0.0.1", port: int = 0,
                 password: str = "ClueCon", heartbeat_interval: float = 20.0, *,
                 max_queue: int = DEFAULT_MAX_QUEUE, close_timeout: float = 1.0):
        self.handler = handler
        self.host = host
        self.port = port
        self.password = password
        self.heartbeat_interval = heartbeat_interval
        self.max_queue = max_queue
        self.close_timeout = close_timeout
        self.commands_received: list[str] = []
        self._sessions: set[Session] = set()
        self._connections = Pool()  # unbounded; StreamServer wants a Pool
        self._jobs = Group()
        self._stream: StreamServer | None = None
        self._heartbeat: gevent.Greenlet | None = None
        self._started = time.monotonic()

    # -- lifecycle ---------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def sessions(self) -> int:
        """Open client connections (authenticated or not)."""
        return len(self._sessions)

    @property
    def running(self) -> bool:
        return self._stream is not None

    def start(self) -> None:
        """Listen (again: after ``stop()`` the same port is reused, SO_REUSEADDR)."""
        if self._stream is not None:
            return
        stream = StreamServer((self.host, self.port), self._handle, spawn=self._connections)
        stream.reuse_addr = 1
        stream.start()
        self._stream = stream
        self._started = time.monotonic()  # a restarted FreeSWITCH starts its uptime anew
        self.port = stream.server_port
        if self.heartbeat_interval and self.heartbeat_interval > 0:
            self._heartbeat = gevent.spawn(run_heartbeat, self.handler, self.publish,
                                           self.heartbeat_interval, self._started)
        log.info("Event Socket simulator listening on %s:%s", self.host, self.port)

    def stop(self) -> None:
        """Stop listening, say goodbye to every client, end every greenlet."""
        stream, self._stream = self._stream, None
        if stream is None:
            return
        stream.close()
        for session in list(self._sessions):
            session.goodbye(SHUTDOWN_NOTICE)
        self._connections.join(timeout=self.close_timeout)
        for session in list(self._sessions):
            session.abort()
        self._connections.kill(timeout=self.close_timeout)
        self._jobs.kill(timeout=self.close_timeout)
        if self._heartbeat is not None:
            self._heartbeat.kill()
            self._heartbeat = None
        log.info("Event Socket simulator on %s:%s stopped", self.host, self.port)

    def drop_connections(self) -> None:
        """Close every client socket at once, no notice (keeps listening)."""
        for session in list(self._sessions):
            session.abort()

    def _handle(self, sock, address) -> None:
        # mod_event_socket sets TCP_NODELAY too; without it Nagle holds every
        # other small reply (~40 ms with the client's delayed ACK).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = Session(sock, address, self)
        self._sessions.add(session)
        log.debug("ESL client %s:%s connected", *address[:2])
        try:
            session.run()
        except Exception:
            log.exception("ESL session %s:%s failed", *address[:2])
        finally:
            self._sessions.discard(session)
            log.debug("ESL client %s:%s gone", *address[:2])

    # -- events ------------------------------------------------------------
    def publish(self, headers: Headers, body: str = "") -> None:
        """Deliver one event to every session that wants it (never blocks;
        encoded once per format)."""
        event = PublishedEvent(headers, body)
        for session in list(self._sessions):
            session.deliver(event)

    def execute_api(self, command: str, args: str) -> tuple[str, Callable[[], None]]:
        """Run an api command. Returns its output and a function that publishes
        the ``API`` event; the event's headers (and Event-Sequence) are taken
        before the command runs, as ``switch_api_execute`` fires it first.
        Like ``switch_api_execute``, surrounding whitespace is stripped."""
        command, args = command.strip(), args.strip()
        headers = set_origin(dict(self.handler.base_headers("API")), API_ORIGIN)
        headers["API-Command"] = command
        if args:
            headers["API-Command-Argument"] = args
        try:
            body = self.handler.api(command, args)
        except Exception as exc:
            log.exception("simulated api %r %r failed", command, args)
            body = f"-ERR {command} failed in the simulator: {exc}\n"
        return body, lambda: self.publish(headers)

    def spawn_job(self, job_uuid: str, command: str, args: str) -> None:
        self._jobs.spawn(self._run_job, job_uuid, command, args)

    def _run_job(self, job_uuid: str, command: str, args: str) -> None:
        body, announce = self.execute_api(command, args)
        announce()
        headers = set_origin(dict(self.handler.base_headers("BACKGROUND_JOB")), JOB_ORIGIN)
        headers["Job-UUID"] = job_uuid
        headers["Job-Command"] = command
        if args:
            headers["Job-Command-Arg"] = args
        self.publish(headers, body)

    def send_event(self, line: str, extra: dict[str, str], body: str, event_uuid: str) -> None:
        """``sendevent NAME``: the client's headers, then the core's (FreeSWITCH
        also appends them after the client's, duplicates included)."""
        name = event_type(line[9:].strip(" \t")) or "COMMAND"
        pairs = [("Command", line)]
        pairs += [(key, value) for key, value in extra.items() if key.lower() != "content-length"]
        pairs.append(("Event-UUID", event_uuid))
        pairs += list(self.handler.base_headers(name).items())
        self.publish(pairs, body)
