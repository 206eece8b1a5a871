"""StorageWriter: the gevent service's only writer of calls, extensions and the outbox.

``submit()`` copies a ``Changes`` into rows and queues it; it never does I/O
and never yields. A writer greenlet commits what is queued in ONE transaction,
so an outbox row is committed together with the call change that caused it, or
not at all.

Group commit (``commit_window=0``, the default): an idle writer commits a
change at once; what is submitted while a commit runs goes into the next one,
so batches grow with the load and nothing waits at low load. A positive
``commit_window`` instead holds the first queued change up to that long
(sooner when ``max_batch`` changes are queued or on ``flush()``).

The transaction itself runs in a dedicated one-thread pool by default:
sqlite3 and psycopg2 release the GIL while they wait for the disk, a lock or
the server, so the hub keeps serving the Event Socket meanwhile (see
docs/storage.md for the measurements behind this).

When the database cannot be written, nothing is dropped: the queue stays in
memory, one error is logged, and the write is retried with capped backoff.
A batch that fails for a reason other than the database being unavailable
(bad data) is split, and only the changes that fail on their own are rejected.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from itertools import islice

import gevent
from gevent.event import Event
from gevent.threadpool import ThreadPool

from esl_connector.records import Changes

from .batch import TRANSIENT_ERRORS, close_connection, write_batch
from .db import describe
from .rows import Pending, collapse, snapshot
from .writer_status import CommitInfo, FailureLog, WriterStatus

log = logging.getLogger(__name__)


class StorageWriter:
    def __init__(self, database, commit_window: float = 0.0, max_batch: int = 1000, *,
                 use_threadpool: bool = True, retry_initial: float = 0.5,
                 retry_max: float = 30.0, on_commit: Callable[[CommitInfo], None] | None = None):
        self.db = database
        self.commit_window = commit_window
        self.max_batch = max_batch
        self.use_threadpool = use_threadpool
        self.retry_initial, self.retry_max = retry_initial, retry_max
        self.on_commit = on_commit
        # Called with the exception if the writer greenlet dies (a bug): from
        # then on nothing would be committed, so the app stops the process.
        self.on_died: Callable[[BaseException | None], None] | None = None
        self._queue: deque[Pending] = deque()
        self._queued_rows = 0
        self._seq = 0  # last submitted
        self._committed_seq = 0
        self._wake, self._urgent, self._progress = Event(), Event(), Event()
        self._stopping = False
        self._greenlet: gevent.Greenlet | None = None
        self._pool: ThreadPool | None = None
        self._failures = FailureLog(describe(database), log)
        self._stats = WriterStatus(database=describe(database), in_threadpool=use_threadpool)

    # -- the caller's side (any greenlet on the hub's thread) -----------------

    def submit(self, changes: Changes) -> int:
        """Queue ``changes``; return its sequence number (0 when empty)."""
        if not changes:
            return 0
        self._seq += 1
        item = snapshot(changes, self._seq, time.time(), time.monotonic())
        self._queue.append(item)
        self._queued_rows += item.rows
        self._wake.set()
        if len(self._queue) >= self.max_batch:
            self._urgent.set()
        return self._seq

    def flush(self, timeout: float = 10.0) -> bool:
        """Commit everything submitted so far now; False if not done in ``timeout``."""
        target = self._seq
        deadline = time.monotonic() + timeout
        if self._committed_seq < target:
            self._urgent.set()
            self._wake.set()
        while self._committed_seq < target:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.running:
                return False
            self._progress.wait(remaining)
        return True

    def start(self) -> None:
        if self.running:
            return
        self._stopping = False
        if self.use_threadpool:
            self._pool = ThreadPool(1)
        self._greenlet = gevent.spawn(self._run)
        self._greenlet.link_exception(self._died)
        self._stats.running = True

    def stop(self, timeout: float = 10.0) -> bool:
        """Flush, then stop; False (and a critical log) if changes were left unwritten."""
        if self._greenlet is None:
            return not self._queue
        self._stopping = True
        flushed = self.flush(timeout)
        self._wake.set()
        self._urgent.set()
        self._greenlet.join(timeout=1.0 if flushed else 0)
        if not self._greenlet.dead:
            self._greenlet.kill(block=True, timeout=1.0)
        if self._pool is not None:
            self._pool.kill()
        self._greenlet, self._pool = None, None
        self._stats.running = False
        if self._queue:
            log.critical("stopped with %d changes (%d rows) not written to %s: this process loses "
                         "them; the next start takes up the last commit and reads FreeSWITCH's live "
                         "channels again (calls that ended meanwhile are closed with what is known)",
                         len(self._queue), self._queued_rows, describe(self.db))
        return not self._queue

    @property
    def running(self) -> bool:
        return self._greenlet is not None and not self._greenlet.dead

    def status(self) -> WriterStatus:
        return self._stats.snapshot(self._queue, self._queued_rows, self._failures)

    # -- the writer greenlet ----------------------------------------------------

    def _run(self) -> None:
        try:
            while not (self._stopping and not self._queue):
                if not self._queue:
                    self._wake.wait()
                    self._wake.clear()
                    continue
                self._wait_window()
                self._commit_queued()
        finally:
            self._call(close_connection, self.db)
            self._notify_progress()

    def _wait_window(self) -> None:
        deadline = self._queue[0].submitted + self.commit_window
        remaining = deadline - time.monotonic()
        if remaining > 0 and not self._urgent.is_set():
            self._urgent.wait(remaining)
        self._urgent.clear()

    def _commit_queued(self) -> None:
        while self._queue:
            items = list(islice(self._queue, self.max_batch))
            try:
                try:
                    self._write(items)
                except TRANSIENT_ERRORS:
                    raise
                except Exception as exc:  # noqa: BLE001 - bad data, not a bad database
                    self._write_one_by_one(items, exc)
            except TRANSIENT_ERRORS as exc:
                self._retry_later(exc)
                return
            self._committed(items)

    def _write(self, items: list[Pending]) -> None:
        batch = collapse(items)
        started = time.monotonic()
        self._call(write_batch, self.db, batch)
        self._stats.record_commit(len(items), batch, time.monotonic() - started)
        if self._failures.recovered(len(items)):
            self._stats.last_error = ""

    def _write_one_by_one(self, items: list[Pending], exc: Exception) -> None:
        """Find the changes that cannot be written; reject only those."""
        log.error("a batch of %d changes failed on its data (%s); writing them one by one",
                  len(items), exc)
        for item in items:
            try:
                self._write([item])
            except TRANSIENT_ERRORS:
                raise
            except Exception as item_exc:  # noqa: BLE001 - reject only this change
                self._stats.rejected += 1
                log.error("rejected change #%d (not written, its CRM events are lost): %s; "
                          "rows: %r", item.seq, item_exc, item)

    def _committed(self, items: list[Pending]) -> None:
        for _ in items:
            self._queued_rows -= self._queue.popleft().rows
        self._committed_seq = items[-1].seq
        self._notify_progress()
        if self.on_commit is not None:
            try:
                self.on_commit(CommitInfo.of(items))
            except Exception:
                log.exception("on_commit callback failed")

    def _retry_later(self, exc: Exception) -> None:
        delay = self._failures.failed(exc, len(self._queue), self.retry_initial, self.retry_max)
        self._stats.last_error = self._failures.reason
        self._stats.failures += 1
        self._notify_progress()
        if not self._urgent.wait(delay):  # flush() or stop() retry at once
            return
        self._urgent.clear()

    def _notify_progress(self) -> None:
        progress, self._progress = self._progress, Event()
        progress.set()

    def _call(self, fn, *args):
        if self._pool is not None:
            return self._pool.apply(fn, args)
        return fn(*args)

    def _died(self, greenlet: gevent.Greenlet) -> None:
        log.critical("storage writer stopped unexpectedly: %r; %d changes waiting",
                     greenlet.exception, len(self._queue))
        if self.on_died is not None:
            self.on_died(greenlet.exception)
