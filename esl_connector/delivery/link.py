"""The line protocol between the connector and its delivery process.

One stream socket (a ``socketpair``: the parent keeps one end, the child gets
the other as an inherited file descriptor), one JSON object per line, each
with an ``op``. Both sides use ``Link``: a reader greenlet hands each message
to ``on_message`` and calls ``on_closed`` at end of file (the other process is
gone); ``send`` queues a message for a writer greenlet, so it never blocks the
caller (the writer's commit callback, an HTTP handler) and lines queued
together leave in one write.

Parent -> child:
  ``settings``      the Settings (pickled, base64): the first message, and again on ``reload``
  ``wake``          new outbox rows were committed (``rows``: how many) or, without
                    ``rows``, look at every due row (an admin's retry, a replay);
                    ``handed``: another delivery process left due rows unread
  ``stop_picking``  send nothing new (the first step of a graceful stop)
  ``stop``          finish the deliveries in flight within ``timeout`` s, then exit
  ``reload``        the configuration file was read again (``settings``); the hook
                    live reload plugs into

Child -> parent:
  ``ready``    the engine runs (``pid``)
  ``status``   its EngineStatus (as a dict), every STATUS_EVERY s and when stopping
  ``results``  outcomes just committed, for the metrics (see ``result_row``)
  ``died``     the engine stopped on a bug (``reason``); the child exits next
  ``left_over`` it left due rows unread (a full page, or it holds its share):
               with several delivery processes, the next one is woken
"""

from __future__ import annotations

import base64
import json
import logging
import pickle
from collections.abc import Callable
from types import SimpleNamespace

import gevent
from gevent.queue import Queue

log = logging.getLogger(__name__)

STATUS_EVERY = 0.25  # seconds between the child's status reports (and result batches)
MAX_LINE = 64 * 1024 * 1024  # a status or results line is far smaller; anything longer is a bug


def encode_settings(settings) -> str:
    return base64.b64encode(pickle.dumps(settings)).decode("ascii")


def decode_settings(text: str):
    """Only ever what our own parent sent over its private socketpair."""
    return pickle.loads(base64.b64decode(text))


# -- outcomes for the parent's metrics ---------------------------------------------------

def result_row(event, customer: str, status: str, attempts: list) -> list:
    """What ConnectorMetrics.delivery_result reads of one outcome, as JSON."""
    return [event.created_at, event.replayed_at, customer, status,
            [[a.url, a.started_at, a.latency_ms, a.status_code] for a in attempts]]


def result_args(row: list) -> tuple:
    """``result_row`` -> the arguments of ``on_result(event, customer, status, attempts)``."""
    created_at, replayed_at, customer, status, attempts = row
    event = SimpleNamespace(created_at=created_at, replayed_at=replayed_at)
    return (event, customer, status,
            [SimpleNamespace(url=u, started_at=s, latency_ms=lat, status_code=code)
             for u, s, lat, code in attempts])


# -- the link ------------------------------------------------------------------------------

class Link:
    def __init__(self, sock, on_message: Callable[[dict], None], on_closed: Callable[[], None],
                 name: str = "delivery link"):
        self.sock, self.name = sock, name
        self.on_message, self.on_closed = on_message, on_closed
        self._out: Queue = Queue()
        self._closed = False
        self._reader = self._writer = None

    def start(self) -> Link:
        self._reader = gevent.spawn(self._read)
        self._writer = gevent.spawn(self._write)
        return self

    @property
    def closed(self) -> bool:
        return self._closed

    def send(self, op: str, **fields) -> None:
        if not self._closed:
            self._out.put(json.dumps({"op": op, **fields}, separators=(",", ":")).encode() + b"\n")

    def flush(self, timeout: float = 2.0) -> None:
        """Wait until what was sent so far has left (before exiting)."""
        deadline = gevent.get_hub().loop.now() + timeout
        while not self._out.empty() and not self._closed and gevent.get_hub().loop.now() < deadline:
            gevent.sleep(0.005)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._out.put(None)
        try:
            self.sock.close()
        except OSError:
            pass

    def _write(self) -> None:
        while True:
            line = self._out.get()
            lines = [line]
            while line is not None and not self._out.empty():
                line = self._out.get()
                lines.append(line)
            data = b"".join(x for x in lines if x is not None)
            if data:
                try:
                    self.sock.sendall(data)
                except OSError as exc:
                    log.debug("%s: write failed (%s)", self.name, exc)
                    self._end()
                    return
            if lines[-1] is None:
                return

    def _read(self) -> None:
        buffered = b""
        while True:
            try:
                data = self.sock.recv(262144)
            except OSError as exc:
                log.debug("%s: read failed (%s)", self.name, exc)
                data = b""
            if not data:
                self._end()
                return
            buffered += data
            if b"\n" not in buffered:
                if len(buffered) > MAX_LINE:
                    log.error("%s: a message longer than %d bytes; closing", self.name, MAX_LINE)
                    self._end()
                    return
                continue
            *lines, buffered = buffered.split(b"\n")
            for line in lines:
                self._dispatch(line)

    def _dispatch(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            log.error("%s: unreadable message %r", self.name, line[:200])
            return
        try:
            self.on_message(message)
        except Exception:  # noqa: BLE001 - one bad message must not end the link
            log.exception("%s: handling %r failed", self.name, message.get("op"))

    def _end(self) -> None:
        was_closed = self._closed
        self._closed = True
        try:
            self.sock.close()
        except OSError:
            pass
        if not was_closed:
            self.on_closed()
