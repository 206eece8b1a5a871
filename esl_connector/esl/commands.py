"""Errors and background-job bookkeeping for the Event Socket client.

No I/O here: ``esl_connection`` raises these errors, ``esl_client`` hands
``BackgroundJob`` objects to callers and resolves them through ``JobRegistry``
when the matching ``BACKGROUND_JOB`` event arrives.
"""

from __future__ import annotations

from dataclasses import dataclass

import gevent.event
from greenswitch.esl import NotConnectedError

from .protocol import Event, Frame


class ESLError(Exception):
    """Base class of every error the Event Socket client raises."""


class NotConnected(ESLError, NotConnectedError):
    """No usable session with FreeSWITCH (down, connecting, or just lost).

    Also a ``greenswitch.esl.NotConnectedError``, so code written against
    greenswitch keeps catching it."""


class CommandTimeout(ESLError):
    """No reply within the timeout. For ``api``/``command`` the connection is
    reset afterwards, because replies are matched to commands in order."""


class CommandError(ESLError):
    """FreeSWITCH answered ``-ERR <message>``; ``str(exc)`` is the message."""


class AuthenticationError(ESLError):
    """FreeSWITCH rejected the event-socket password (``-ERR invalid``)."""


class AccessDenied(ESLError):
    """FreeSWITCH refused the connection by ACL (``text/rude-rejection``)."""


@dataclass(frozen=True, slots=True)
class JobResult:
    """The outcome of a ``bgapi`` command: ``+OK <text>`` or ``-ERR <text>``."""

    ok: bool
    text: str


def parse_job_body(body: str) -> JobResult:
    """``"+OK 1234\\n"`` -> (True, "1234"); ``"-ERR USER_BUSY\\n"`` -> (False, "USER_BUSY").

    A body with neither prefix (``bgapi status``) is a success carrying the text."""
    if body.startswith("-ERR"):
        return JobResult(False, body[4:].strip())
    if body.startswith("+OK"):
        return JobResult(True, body[3:].strip())
    return JobResult(True, body.strip())


def reply_job_uuid(reply: Frame) -> str:
    """The Job-UUID a ``bgapi`` command/reply announces (header, or Reply-Text)."""
    uuid = reply.headers.get("Job-UUID", "")
    if not uuid:
        text = reply.headers.get("Reply-Text", "")
        if text.startswith("+OK Job-UUID:"):
            uuid = text.split(":", 1)[1].strip()
    return uuid


class BackgroundJob:
    """A ``bgapi`` command in flight; ``wait()`` returns its ``JobResult``."""

    def __init__(self, command: str):
        self.command = command
        self.job_uuid = ""
        self._result: gevent.event.AsyncResult = gevent.event.AsyncResult()

    def __repr__(self) -> str:
        return f"<BackgroundJob {self.job_uuid or '?'} {self.command.split(' ', 1)[0]!r}>"

    @property
    def done(self) -> bool:
        return self._result.ready()

    def wait(self, timeout: float | None = None) -> JobResult:
        """Block until the BACKGROUND_JOB event arrives.

        Raises ``CommandTimeout`` after ``timeout`` seconds (the job stays
        registered; the connection is not reset), ``NotConnected`` if the
        connection was lost first (FreeSWITCH does not replay job results)."""
        try:
            return self._result.get(timeout=timeout)
        except gevent.Timeout:
            raise CommandTimeout(f"no BACKGROUND_JOB for {self.job_uuid} within {timeout} s") from None

    def _resolve(self, result: JobResult) -> None:
        self._result.set(result)

    def _fail(self, exc: Exception) -> None:
        self._result.set_exception(exc)


class JobRegistry:
    """Pending background jobs by Job-UUID.

    ``register`` runs in the reader greenlet at the moment the bgapi reply is
    parsed, so a BACKGROUND_JOB that follows in the same TCP read already
    finds its job (no race with the greenlet that called ``bgapi``)."""

    def __init__(self) -> None:
        self._jobs: dict[str, BackgroundJob] = {}

    def __len__(self) -> int:
        return len(self._jobs)

    def register(self, reply: Frame, job: BackgroundJob) -> None:
        job.job_uuid = reply_job_uuid(reply) or job.job_uuid
        if job.job_uuid and reply.headers.get("Reply-Text", "").startswith("+OK"):
            self._jobs[job.job_uuid] = job

    def resolve(self, event: Event) -> bool:
        """Complete the job a BACKGROUND_JOB event belongs to; False if not ours."""
        job = self._jobs.pop(event.get("Job-UUID"), None)
        if job is None:
            return False
        job._resolve(parse_job_body(event.body))
        return True

    def fail_all(self, reason: str) -> None:
        jobs, self._jobs = self._jobs, {}
        for job in jobs.values():
            job._fail(NotConnected(f"connection lost before the job finished: {reason}"))
