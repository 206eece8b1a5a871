"""One inbound Event Socket session: greenswitch's ``InboundESL``, made safe.

``ESLConnection`` keeps greenswitch's shape (``connect`` -> reader greenlet ->
``handle_event`` by Content-Type, command replies matched to callers through
the ``_commands_sent`` FIFO, ``send``/``stop``) and overrides the parts that
break in production; ``esl_client`` lists each gap and its test. A connection
is used once: when it closes (for any reason) ``closed`` is set, the reason is
in ``close_reason`` and every command still waiting fails with
``NotConnected``. Reconnecting is the client's job: it builds a new one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import gevent
import gevent.event
import gevent.lock
from gevent import socket
from greenswitch.esl import InboundESL

from .commands import (
    AccessDenied,
    AuthenticationError,
    CommandTimeout,
    NotConnected,
)
from .protocol import Event, Frame, FrameParser, ProtocolError, parse_event

logger = logging.getLogger(__name__)

EVENT_CONTENT_TYPES = ("text/event-plain", "text/event-json")
REPLY_CONTENT_TYPES = ("command/reply", "api/response")


def describe_command(data: str) -> str:
    """The first line of a command, for logs and errors; never the password."""
    line = data.split("\n", 1)[0]
    return "auth ***" if line.startswith("auth ") else line[:120]


class _Pending:
    """A command waiting for its reply (an entry of greenswitch's FIFO).

    ``on_reply`` runs in the reader greenlet as the reply is parsed, before
    any later frame is looked at (bgapi uses it to register its Job-UUID)."""

    __slots__ = ("on_reply", "result")

    def __init__(self, on_reply: Callable[[Frame], None] | None):
        self.result: gevent.event.AsyncResult = gevent.event.AsyncResult()
        self.on_reply = on_reply


class ESLConnection(InboundESL):
    """One TCP session to FreeSWITCH's event socket."""

    def __init__(self, host: str, port: int, password: str, *,
                 deliver: Callable[[Event], None], connect_timeout: float = 5.0,
                 command_timeout: float = 10.0, heartbeat_timeout: float = 40.0,
                 parse: Callable[[Frame], Event] = parse_event):
        super().__init__(host, port, password, timeout=connect_timeout)
        self.command_timeout = command_timeout
        self.heartbeat_timeout = heartbeat_timeout
        self.parser = FrameParser()
        self.sock = None
        self.closed = gevent.event.Event()
        self.close_reason = ""
        self.rejection = ""
        self.last_frame_at: float | None = None
        self._deliver = deliver
        self.parse = parse  # event frame -> Event (``selective``: only the headers the reader reads)
        self._send_lock = gevent.lock.Semaphore()
        self._esl_event_queue = None  # events go to deliver(); the client owns the queue

    @property
    def peer(self) -> str:
        return f"{self.host}:{self.port}"

    # -- connecting ---------------------------------------------------------

    def connect(self) -> None:
        """TCP connect, wait for ``auth/request``, authenticate (all bounded)."""
        try:
            self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise NotConnected(f"cannot connect to FreeSWITCH at {self.peer}: {exc}") from None
        # Every recv waits at most heartbeat_timeout: the HEARTBEAT watchdog.
        self.sock.settimeout(self.heartbeat_timeout)
        self.connected = True
        self.start_event_handlers()
        gevent.wait([self._auth_request_event, self.closed], timeout=self.timeout, count=1)
        if self.rejection:
            raise AccessDenied(
                f"FreeSWITCH at {self.peer} refused this host ({self.rejection}): allow it in the "
                "ACL named by apply-inbound-acl in event_socket.conf.xml")
        if not self._auth_request_event.is_set():
            self.close(f"no auth/request from {self.peer} within {self.timeout:g} s")
        if self.closed.is_set():
            raise NotConnected(self.close_reason)
        self.authenticate()

    def authenticate(self) -> None:
        reply = self.send(f"auth {self.password}")
        if reply.headers.get("Reply-Text") != "+OK accepted":
            self.close("authentication rejected")
            raise AuthenticationError(
                f"FreeSWITCH at {self.peer} rejected the event-socket password "
                "(check esl.password / event_socket.conf.xml)")

    def start_event_handlers(self) -> None:
        # Only the reader: the dispatcher belongs to the client and outlives connections.
        self._receive_events_greenlet = gevent.spawn(self.receive_events)

    # -- reading ------------------------------------------------------------

    def receive_events(self) -> None:
        """Socket reads straight into the FrameParser -> handle_event, until the session ends."""
        reason = f"FreeSWITCH at {self.peer} closed the connection"
        try:
            recv_into, handle = self.sock.recv_into, self.handle_event
            while self._run:
                frames = self.parser.read_from(recv_into)
                if frames is None:
                    break
                if frames:
                    self.last_frame_at = time.time()
                for frame in frames:
                    handle(frame)
        except ProtocolError as exc:
            for frame in exc.frames:  # complete frames before the bad bytes still count
                self.handle_event(frame)
            reason = f"protocol error from {self.peer}: {exc}"
        except socket.timeout:
            reason = (f"nothing received from {self.peer} for {self.heartbeat_timeout:g} s "
                      "(FreeSWITCH sends HEARTBEAT every 20 s)")
        except OSError as exc:
            reason = f"socket error on {self.peer}: {exc}"
        finally:
            self.close(reason)

    def handle_event(self, frame: Frame) -> None:  # greenswitch's name; gets a Frame
        ctype = frame.content_type
        if ctype in EVENT_CONTENT_TYPES:
            try:
                event = self.parse(frame)
            except ProtocolError as exc:  # framing is intact: skip just this event
                logger.warning("skipping an unreadable %s event from %s: %s", ctype, self.peer, exc)
                return
            self._deliver(event)
        elif ctype in REPLY_CONTENT_TYPES:
            self._reply(frame)
        elif ctype == "auth/request":
            self._auth_request_event.set()
        elif ctype == "text/disconnect-notice":
            self._disconnect_notice(frame)
        elif ctype == "text/rude-rejection":
            self.rejection = frame.text.strip() or "text/rude-rejection"
            self.close(f"FreeSWITCH at {self.peer} refused the connection: {self.rejection}")
            self._auth_request_event.set()
        else:
            logger.warning("skipping a frame with unknown Content-Type %r from %s", ctype, self.peer)

    def _reply(self, frame: Frame) -> None:
        if not self._commands_sent:
            raise ProtocolError(f"{frame.content_type} arrived with no command waiting for it")
        pending = self._commands_sent.pop(0)
        if pending.on_reply is not None:
            pending.on_reply(frame)
        pending.result.set(frame)

    def _disconnect_notice(self, frame: Frame) -> None:
        if frame.headers.get("Content-Disposition") == "linger":
            self._lingering = True
            logger.info("FreeSWITCH at %s announced a lingering disconnect", self.peer)
            return
        text = frame.text.strip().split("\n", 1)[0] or "no text"
        self.close(f"FreeSWITCH at {self.peer} sent a disconnect notice ({text})")

    # -- commands -----------------------------------------------------------

    def send(self, data: str, timeout: float | None = None,
             on_reply: Callable[[Frame], None] | None = None) -> Frame:
        """Send one command and wait (bounded) for its command/reply or api/response."""
        timeout = self.command_timeout if timeout is None else timeout
        pending = _Pending(on_reply)
        timer = gevent.Timeout(timeout)
        timer.start()
        try:
            with self._send_lock:  # FIFO order == byte order, even for concurrent callers
                if not self.connected:
                    raise NotConnected(self.close_reason or f"not connected to {self.peer}")
                self._commands_sent.append(pending)
                self.sock.sendall((data + self._EOL * 2).encode("utf-8"))
            return pending.result.get()
        except gevent.Timeout as exc:
            if exc is not timer:
                raise
            what = describe_command(data)
            self.close(f"no reply to {what!r} within {timeout:g} s; replies are matched "
                       "in order, so the connection was reset")
            raise CommandTimeout(f"no reply to {what!r} within {timeout:g} s") from None
        except OSError as exc:
            self.close(f"socket error while sending to {self.peer}: {exc}")
            raise NotConnected(self.close_reason) from None
        finally:
            timer.close()

    def stop(self, timeout: float = 2.0) -> None:
        """Say ``exit`` if the session is up, then close and join the reader."""
        if self.connected:
            try:
                self.send("exit", timeout=timeout)
            except (NotConnected, CommandTimeout):
                pass
        self.close("client stopped")
        if self._receive_events_greenlet is not None:
            self._receive_events_greenlet.join(timeout)

    def close(self, reason: str) -> None:
        """End the session (idempotent; the first reason wins)."""
        if self.closed.is_set():
            return
        self.close_reason = reason
        self.connected = False
        self._run = False
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
        pending, self._commands_sent = self._commands_sent, []
        for item in pending:
            item.result.set_exception(NotConnected(reason))
        self.closed.set()
        reader = self._receive_events_greenlet
        if reader is not None and reader is not gevent.getcurrent():
            reader.kill(block=False)  # it may be blocked on a full event queue
