"""Writing delivery outcomes: group commit on the engine's database thread.

A worker hands its row's new state (a ``Transition``) to ``OutcomeRecorder.put``
and is free for the next row at once. The recorder greenlet writes every
outcome waiting in ONE transaction, and whatever arrives meanwhile in the
next: under load a transaction carries tens of outcomes instead of each worker
queueing for the database (SQLite has one writer at a time, shared with the
StorageWriter). ``on_recorded(event, transition, written)`` follows each commit;
until then the engine keeps the row in flight, so it is never sent twice.

Database errors (locked, disk full, server away) are retried with backoff: an
outcome is never dropped, since a delivered row left due would be sent again.
An outcome the database refuses for itself is held back (logged CRITICAL, never
reported): released, its row would be sent again at once, and again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import gevent
from gevent.event import Event

from storage.batch import TRANSIENT_ERRORS
from storage.views import StoredEvent

from .store import Transition, apply_transitions

log = logging.getLogger(__name__)

Recorded = Callable[[StoredEvent, Transition, bool], None]


class OutcomeRecorder:
    def __init__(self, db, run_on_db_thread: Callable, on_recorded: Recorded,
                 on_db_error: Callable[[str, Exception, int], None], sleep: Callable[[float], None]):
        self.db, self._db, self.on_recorded = db, run_on_db_thread, on_recorded
        self._on_db_error, self._sleep = on_db_error, sleep
        self._waiting: list[tuple[StoredEvent, Transition]] = []
        self._ready = Event()
        self._writing = 0  # outcomes in the transaction being written
        self._closing = False
        self.greenlet: gevent.Greenlet | None = None

    def start(self, on_died: Callable[[gevent.Greenlet], None]) -> None:
        self._closing = False
        self.greenlet = gevent.spawn(self._run)
        self.greenlet.link_exception(on_died)

    def close(self, timeout: float) -> None:
        """Write what is waiting (up to ``timeout``), then end."""
        if self.greenlet is None:
            return
        self._closing = True
        self._ready.set()
        self.greenlet.join(timeout=timeout)
        self.greenlet.kill(block=True, timeout=1.0)
        self.greenlet = None

    def put(self, event: StoredEvent, t: Transition) -> None:
        self._waiting.append((event, t))
        self._ready.set()

    @property
    def pending(self) -> int:
        """Outcomes sent but not committed yet."""
        return len(self._waiting) + self._writing

    def _run(self) -> None:
        while not (self._closing and not self._waiting):
            if not self._waiting:
                self._ready.wait()
                self._ready.clear()
                continue
            batch, self._waiting = self._waiting, []
            self._writing = len(batch)
            try:
                self._record(batch)
            finally:
                self._writing = 0

    def _record(self, batch: list[tuple[StoredEvent, Transition]]) -> None:
        try:
            written = self._write([t for _, t in batch])
        except Exception:  # noqa: BLE001 - some outcome cannot be written: find which
            if len(batch) == 1:
                self._hold_back(batch[0][0])
                return
            for item in batch:
                self._record([item])
            return
        for (event, t), ok in zip(batch, written):
            self.on_recorded(event, t, ok)

    @staticmethod
    def _hold_back(event: StoredEvent) -> None:
        log.critical("outbox row %d (%s, call %s): its outcome cannot be recorded; it is held back "
                     "until the connector restarts", event.id, event.event_type, event.callid,
                     exc_info=True)

    def _write(self, transitions: list[Transition]) -> list[bool]:
        failures = 0
        while True:
            try:
                return self._db(apply_transitions, self.db, transitions)
            except TRANSIENT_ERRORS as exc:
                failures += 1
                self._on_db_error(f"recording the outcome of {len(transitions)} deliveries", exc, failures)
                self._sleep(min(30.0, 0.25 * 2 ** failures))
