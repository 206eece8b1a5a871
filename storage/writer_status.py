"""What the StorageWriter reports: its status, each commit, and its failures."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

from .rows import Batch, Pending

REMIND_EVERY_S = 300.0  # while failing, repeat the error this often, not at every retry


@dataclass(slots=True)
class WriterStatus:
    """A snapshot for the status API and health checks (``dataclasses.asdict``-able)."""

    database: str
    in_threadpool: bool
    running: bool = False
    queued_changes: int = 0  # submitted, not yet committed
    queued_rows: int = 0
    oldest_queued_s: float = 0.0  # age of the oldest uncommitted change
    last_commit_at: float = 0.0  # epoch seconds
    last_commit_ms: float = 0.0  # duration of the last transaction
    last_error: str = ""  # empty once writes succeed again
    failing_since: float = 0.0  # epoch seconds, 0 when healthy
    commits: int = 0
    failures: int = 0  # failed transactions (each retried)
    changes_written: int = 0
    rows_written: int = 0  # calls + extensions + outbox rows (after collapsing)
    events_written: int = 0  # outbox rows
    rejected: int = 0  # changes dropped because their own data could not be written

    def record_commit(self, changes: int, batch: Batch, seconds: float) -> None:
        self.commits += 1
        self.changes_written += changes
        self.rows_written += batch.rows
        self.events_written += len(batch.events)
        self.last_commit_at = time.time()
        self.last_commit_ms = seconds * 1000.0

    def snapshot(self, queue, queued_rows: int, failures: FailureLog) -> WriterStatus:
        oldest = time.monotonic() - queue[0].submitted if queue else 0.0
        return replace(self, queued_changes=len(queue), queued_rows=queued_rows,
                       oldest_queued_s=round(oldest, 3), failing_since=failures.since)


@dataclass(frozen=True, slots=True)
class CommitInfo:
    """Passed to ``on_commit`` after each transaction (on the writer greenlet)."""

    first_seq: int
    last_seq: int
    events: int  # outbox rows just committed: a reason to wake the delivery engine
    submitted: tuple[float, ...]  # time.monotonic() of each change's submit
    committed: float  # time.monotonic() after the commit

    @classmethod
    def of(cls, items: list[Pending]) -> CommitInfo:
        return cls(items[0].seq, items[-1].seq, sum(len(i.events) for i in items),
                   tuple(i.submitted for i in items), time.monotonic())


class FailureLog:
    """Logs a write outage once (plus a reminder every few minutes) and its end,
    and computes the capped exponential backoff."""

    def __init__(self, name: str, logger: logging.Logger):
        self.name, self.log = name, logger
        self.since = 0.0  # epoch seconds of the first failure of the current outage
        self.reason = ""
        self.attempts = 0
        self._last_logged = 0.0

    def failed(self, exc: Exception, waiting: int, initial: float, cap: float) -> float:
        reason = str(exc).strip() or type(exc).__name__
        delay = min(cap, initial * (2 ** self.attempts))
        self.attempts += 1
        now = time.time()
        if not self.since or reason != self.reason or now - self._last_logged >= REMIND_EVERY_S:
            self.log.error("cannot write to %s: %s; %d changes waiting; retrying in %.1fs%s",
                           self.name, reason, waiting, delay,
                           " (nothing is lost while the connector keeps running)"
                           if not self.since else "")
            self._last_logged = now
        else:
            self.log.debug("still cannot write to %s: %s; retrying in %.1fs",
                           self.name, reason, delay)
        self.since = self.since or now
        self.reason = reason
        return delay

    def recovered(self, committed: int) -> bool:
        if not self.since:
            return False
        self.log.warning("writing to %s again after %.1fs and %d failed attempts; "
                         "%d changes committed", self.name, time.time() - self.since,
                         self.attempts, committed)
        self.since, self.reason, self.attempts = 0.0, "", 0
        return True
