"""The inbound Event Socket client: FreeSWITCH events in, api/bgapi out.

``EventSocketClient`` keeps one session open forever. A supervisor greenlet
connects, authenticates, subscribes (``subscription.subscribe_command``),
calls ``on_connect`` (the app resyncs there with ``api``), waits for the
session to end, calls ``on_disconnect(reason)`` and reconnects with capped
exponential backoff and full jitter. One dispatcher greenlet, which outlives
sessions, hands every event to ``on_event`` in arrival order.

Built on greenswitch: ``connection.ESLConnection`` subclasses its
``InboundESL``. Each gap -> our workaround -> the test that proves it
(tests/test_esl_client.py, tests/test_esl_client_replay.py):

* no reconnect -> supervisor greenlet, capped exponential backoff with full
  jitter, ``on_connect`` after every (re)connect
  -> test_server_drop_mid_call_reconnects
* ``send()`` waits forever -> ``gevent.Timeout`` -> ``CommandTimeout``, then the
  session is reset (replies are matched FIFO, a late one would be given to the
  wrong caller) -> test_api_timeout_resets_connection
* concurrent ``send()`` can put FIFO order and byte order out of step -> a send
  lock -> test_concurrent_api_calls_are_matched_fifo
* a command containing a blank line is sent as is (it injects a second command)
  -> single-line check, ``ValueError``
  -> test_not_connected_and_multiline_commands_are_refused
* the reader greenlet dies on odd frames and swallows socket errors -> unknown
  Content-Types are logged and skipped; ``ProtocolError``/socket errors end the
  session with a reason (one warning, ``status().last_error``,
  ``on_disconnect(reason)``, reconnect) -> test_unknown_content_type_is_skipped,
  test_bad_stream_causes_one_warning_and_reconnect
* URL-decodes a whole event before splitting lines (``%0A`` in a caller-ID forges
  headers) -> ``protocol.parse_event`` splits first
  -> test_forged_header_stays_inside_value
* decodes UTF-8 per line -> raw ``sock.recv`` into ``protocol.FrameParser``,
  decoding after framing -> test_utf8_split_across_reads; non-UTF-8 bytes
  (also inside event-json: ``protocol.parse_json_event``)
  -> test_non_utf8_bytes_survive
* BACKGROUND_JOB body glued to a header, no bgapi support -> body by
  Content-Length, ``BackgroundJob``/``JobResult``, Job-UUID registered in the
  reader as the reply is parsed (a BACKGROUND_JOB in the same TCP read is not
  missed) -> test_bgapi_job_result_before_and_after_events
* unbounded event queue -> ``Queue(maxsize=queue_size)``; a full queue blocks
  the reader -> test_full_queue_blocks_the_reader
* logs on the root logger -> ``logging.getLogger(__name__)``; the password is
  never logged -> test_logs_use_module_loggers_and_hide_password
* waits forever for auth/request; a wrong password is a bare ``ValueError``; an
  ACL refusal says "check FreeSWITCH config" -> bounded waits,
  ``AuthenticationError``/``AccessDenied`` logged once with what to change,
  retried at the maximum backoff -> test_wrong_password_logs_once_then_recovers,
  test_rude_rejection_names_the_acl_setting, test_server_silent_before_auth_request
* disconnect notice only flips a flag -> the session ends now (``linger``: it
  ends when FreeSWITCH closes) -> test_disconnect_notice
* no liveness check -> every recv waits at most ``heartbeat_timeout``
  -> test_heartbeat_watchdog_reconnects
* handler errors logged as a pprint of all headers on the root logger -> one
  line with event name and Unique-ID, the stream goes on
  -> test_handler_exception_is_logged_and_stream_continues
* the real recordings, replayed in random TCP chunks, give exactly
  ``protocol.parse_capture``'s events and every api/bgapi reply to its caller
  -> test_replay_recorded_call_yields_parse_capture_events,
  test_replay_api_responses_correlates_every_reply

Delivery: events are delivered at most once. bgapi results are lost when the
socket drops: FreeSWITCH fires BACKGROUND_JOB once, to whoever is subscribed
at that moment, and never replays it. Pending ``BackgroundJob.wait()`` calls
then raise ``NotConnected``; the app finds out what happened by resyncing in
``on_connect``. BACKGROUND_JOB events (also other clients' jobs) still reach
``on_event``.

Backpressure: when ``on_event`` falls behind and the queue is full, the
reader stops reading. TCP then pushes back on FreeSWITCH, whose per-listener
queue absorbs the burst (if it overflows, FreeSWITCH drops events for us and
logs "Lost N events!"), instead of this process growing without bound. So
``on_event`` must not wait on ``api()`` itself (the reply would queue behind
the events it is holding up; ``command_timeout`` would break the tie by
resetting the session): spawn a greenlet for commands.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import gevent
import gevent.event
import gevent.queue

from .commands import (
    AccessDenied,
    AuthenticationError,
    BackgroundJob,
    CommandError,
    CommandTimeout,
    ESLError,
    JobRegistry,
    JobResult,
    NotConnected,
)
from .connection import ESLConnection
from .protocol import Event, Frame, parse_event
from .selective import HeaderSelection
from .subscription import subscribe_command

__all__ = [
    "AccessDenied",
    "AuthenticationError",
    "BackgroundJob",
    "ClientStatus",
    "CommandError",
    "CommandTimeout",
    "ESLError",
    "EventSocketClient",
    "JobResult",
    "NotConnected",
]

logger = logging.getLogger(__name__)

STABLE_SESSION_SECONDS = 10.0  # a session this long resets the backoff
CLIENT_HEADERS = ("Event-Name", "Core-UUID", "FreeSWITCH-Hostname", "Job-UUID")  # what _deliver reads
_STOP = object()


@dataclass(frozen=True, slots=True)
class ClientStatus:
    """What the status API shows about the Event Socket link."""

    connected: bool
    since: float | None          # time.time() of the last connect or disconnect
    last_error: str | None
    reconnects: int              # sessions lost since start()
    events_received: int
    last_frame_at: float | None  # time.time() of the last frame of any kind
    core_uuid: str | None        # FreeSWITCH's Core-UUID, from its events
    hostname: str | None = None  # FreeSWITCH-Hostname, from its events


def _one_line(text: str) -> str:
    if "\n" in text or "\r" in text:
        raise ValueError("an Event Socket command must be a single line")
    return text


class EventSocketClient:
    def __init__(self, host: str, port: int, password: str, *, event_format: str = "json",
                 on_event: Callable[[Event], None],
                 on_connect: Callable[[EventSocketClient], None] | None = None,
                 on_disconnect: Callable[[str], None] | None = None,
                 command_timeout: float = 10.0, connect_timeout: float = 5.0,
                 heartbeat_timeout: float = 40.0, backoff_initial: float = 0.5,
                 backoff_max: float = 30.0, queue_size: int = 10000,
                 headers: Iterable[str] | None = None):
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")  # gevent: 0 would mean unbounded
        self.host, self.port, self._password = host, port, password
        self._subscribe = subscribe_command(event_format)
        self._on_event, self._on_connect, self._on_disconnect = on_event, on_connect, on_disconnect
        self.command_timeout, self.connect_timeout = command_timeout, connect_timeout
        self.heartbeat_timeout = heartbeat_timeout
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self._queue: gevent.queue.Queue = gevent.queue.Queue(maxsize=queue_size)
        self._jobs = JobRegistry()
        self._conn: ESLConnection | None = None
        self._ready = False
        self._stopping = gevent.event.Event()
        self._supervisor: gevent.Greenlet | None = None
        self._dispatcher: gevent.Greenlet | None = None
        self._since: float | None = None
        self._last_error: str | None = None
        self._last_problem: str | None = None
        self._reconnects = 0
        self._events_received = 0
        self._last_frame_at: float | None = None
        self._core_uuid: str | None = None
        self._hostname: str | None = None
        self._parse: Callable[[Frame], Event] = parse_event
        if headers is not None:
            self.select_headers(headers)

    @property
    def peer(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        return self._ready and self._conn is not None and self._conn.connected

    def status(self) -> ClientStatus:
        conn = self._conn
        last_frame = (conn.last_frame_at if conn else None) or self._last_frame_at
        return ClientStatus(self.connected, self._since, self._last_error, self._reconnects,
                            self._events_received, last_frame, self._core_uuid, self._hostname)

    def select_headers(self, names: Iterable[str]) -> None:
        """Decode event-json events for these headers only (and the client's
        own: ``CLIENT_HEADERS``); ``on_event`` reading any other name costs a
        decode of the whole event (``selective``). Applies from the next event."""
        self._parse = HeaderSelection({*names, *CLIENT_HEADERS}).parse_event
        if self._conn is not None:
            self._conn.parse = self._parse

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> None:
        if self._supervisor is not None:
            raise RuntimeError("EventSocketClient.start() called twice")
        self._dispatcher = gevent.spawn(self._dispatch_loop)
        self._supervisor = gevent.spawn(self._supervise)
        for greenlet in (self._dispatcher, self._supervisor):
            greenlet.link_exception(self._greenlet_died)

    def stop(self, timeout: float = 5.0) -> None:
        """Say ``exit`` if connected, deliver what is queued (up to ``timeout``), join all."""
        self._stopping.set()
        conn = self._conn
        if conn is not None and self.connected:
            conn.stop(timeout=min(timeout, self.command_timeout))
        elif conn is not None:
            conn.close("client stopped")
        me = gevent.getcurrent()  # stop() may be called from on_event / on_connect
        if self._supervisor is not None and self._supervisor is not me:
            self._supervisor.join(timeout)
            self._supervisor.kill()
        if self._dispatcher is not None and self._dispatcher is not me:
            try:
                self._queue.put(_STOP, timeout=timeout)
            except gevent.queue.Full:
                pass
            self._dispatcher.join(timeout)
            self._dispatcher.kill()

    @staticmethod
    def _greenlet_died(greenlet: gevent.Greenlet) -> None:
        logger.error("ESL client greenlet %r died: %r", greenlet, greenlet.exception)

    # -- commands -----------------------------------------------------------

    def api(self, command: str, timeout: float | None = None, check: bool = False) -> str:
        """``api <command>``: the response body, decoded.

        ``check=True`` raises ``CommandError`` for a ``-ERR ...`` body. Raises
        ``NotConnected`` when down, ``CommandTimeout`` after ``timeout``
        (default ``command_timeout``; the session is then reset)."""
        frame = self._send(f"api {_one_line(command)}", timeout)
        text = frame.text if frame.content_type == "api/response" else frame.headers.get("Reply-Text", "")
        if check and text.startswith("-ERR"):
            raise CommandError(text[4:].strip())
        return text

    def bgapi(self, command: str, job_uuid: str | None = None) -> BackgroundJob:
        """``bgapi <command>`` (with a ``Job-UUID:`` header when given): a job to ``wait()`` on."""
        line = f"bgapi {_one_line(command)}"
        if job_uuid:
            line += f"\nJob-UUID: {_one_line(job_uuid)}"
        job = BackgroundJob(command)
        job.job_uuid = job_uuid or ""
        reply = self._send(line, None, on_reply=lambda frame: self._jobs.register(frame, job))
        text = reply.headers.get("Reply-Text", "")
        if not text.startswith("+OK"):
            raise CommandError(text[4:].strip() if text.startswith("-ERR") else text)
        return job

    def command(self, text: str, timeout: float | None = None) -> str:
        """A raw Event Socket command (``filter ...``, ``nixevent ...``): its Reply-Text."""
        return self._send(_one_line(text), timeout).headers.get("Reply-Text", "")

    def _send(self, text: str, timeout: float | None,
              on_reply: Callable[[Frame], None] | None = None) -> Frame:
        conn = self._conn
        if conn is None or not self.connected:
            raise NotConnected(f"not connected to FreeSWITCH at {self.peer}")
        return conn.send(text, timeout, on_reply)

    # -- events -------------------------------------------------------------

    def _deliver(self, event: Event) -> None:
        """Reader greenlet: count, resolve bgapi jobs, queue (blocks when full)."""
        self._events_received += 1
        self._core_uuid = event.get("Core-UUID") or self._core_uuid
        self._hostname = event.get("FreeSWITCH-Hostname") or self._hostname
        if event.name == "BACKGROUND_JOB":
            self._jobs.resolve(event)
        self._queue.put(event)

    def _dispatch_loop(self) -> None:
        while True:
            event = self._queue.get()
            if event is _STOP:
                return
            try:
                self._on_event(event)
            except Exception:
                logger.exception("on_event failed for %s (Unique-ID %s); the event stream continues",
                                 event.name or "?", event.uuid or "-")

    # -- the supervisor -----------------------------------------------------

    def _supervise(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                failures, delay = self._one_session(failures)
            except Exception:
                logger.exception("unexpected error in the Event Socket supervisor; reconnecting")
                failures, delay = failures + 1, self.backoff_max
            self._stopping.wait(delay)

    def _one_session(self, failures: int) -> tuple[int, float]:
        """Connect and serve one session; returns (failures, delay before the next try)."""
        conn = self._conn = ESLConnection(
            self.host, self.port, self._password, deliver=self._deliver,
            connect_timeout=self.connect_timeout, command_timeout=self.command_timeout,
            heartbeat_timeout=self.heartbeat_timeout, parse=self._parse)
        try:
            self._open(conn)
        except (AuthenticationError, AccessDenied) as exc:
            conn.close(str(exc))
            self._problem(str(exc), logging.ERROR)
            return failures + 1, random.uniform(self.backoff_max / 2, self.backoff_max)
        except ESLError as exc:
            conn.close(str(exc))
            self._problem(str(exc), logging.WARNING)
            return failures + 1, self._backoff(failures + 1)
        started = time.monotonic()
        conn.closed.wait()
        self._session_ended(conn)
        if time.monotonic() - started >= STABLE_SESSION_SECONDS:
            failures = 0
        return failures + 1, self._backoff(failures + 1)

    def _open(self, conn: ESLConnection) -> None:
        conn.connect()
        reply = conn.send(self._subscribe).headers.get("Reply-Text", "")
        if not reply.startswith("+OK"):
            raise CommandError(f"FreeSWITCH at {self.peer} refused the event subscription: {reply}")
        self._ready, self._since = True, time.time()
        if self._last_problem:
            logger.info("connected to FreeSWITCH at %s (recovered from: %s)", self.peer, self._last_problem)
        else:
            logger.info("connected to FreeSWITCH at %s", self.peer)
        self._last_problem = None
        self._call("on_connect", self._on_connect, self)

    def _session_ended(self, conn: ESLConnection) -> None:
        reason = conn.close_reason
        self._ready, self._since = False, time.time()
        self._last_frame_at = conn.last_frame_at or self._last_frame_at
        self._jobs.fail_all(reason)
        if not self._stopping.is_set():
            self._reconnects += 1
            self._problem(f"lost the connection to FreeSWITCH: {reason}; reconnecting", logging.WARNING)
        self._call("on_disconnect", self._on_disconnect, reason)

    def _problem(self, message: str, level: int) -> None:
        """Log a failure once; repeats of the same failure go to DEBUG."""
        if self._stopping.is_set():
            return
        self._last_error = message
        if message == self._last_problem:
            logger.debug("still failing: %s", message)
            return
        self._last_problem = message
        logger.log(level, "%s", message)

    def _backoff(self, failures: int) -> float:
        """Full jitter: uniform(0, min(max, initial * 2**(failures-1)))."""
        ceiling = min(self.backoff_max, self.backoff_initial * 2 ** min(failures - 1, 30))
        return random.uniform(0, ceiling)

    @staticmethod
    def _call(name: str, callback: Callable | None, arg) -> None:
        if callback is None:
            return
        try:
            callback(arg)
        except Exception:
            logger.exception("%s callback failed", name)
