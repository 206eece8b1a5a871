"""Sending one ``DeliveryPlan`` over HTTP and judging what came back.

Thin on purpose (the wazo-webhookd split): no database, no scheduling. Every
request has explicit connect and read timeouts plus an overall deadline, runs
on a keep-alive connection pool per endpoint (``connections``), and becomes an
``AttemptResult``; the plan's attempts become one ``Outcome``:

* 2xx -> delivered; 408, 425, 429, 5xx, timeouts, connection errors -> retry;
  any other status (other 4xx, 3xx: redirects are not followed) -> give up.
* single: one request.
* failover: the requests in order; the next one on a retryable result;
  delivered on the first 2xx, given up on the first non-retryable status.
* parallel: every URL at once (each attempt, retries included); delivered
  when any one answers 2xx; given up only when every one answered with a
  non-retryable status; otherwise retried (all URLs again: none has it yet).

Secrets never leave this module: errors and response excerpts are scrubbed
of the request's secret values, and only ``redacted_url`` is stored.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

import gevent
import requests
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.exceptions import SSLError as Urllib3SSLError

from ..settings.customers import FAILOVER, PARALLEL
from .connections import SessionPool, headers_for, needs_session, target_of
from .retry_schedule import parse_retry_after
from .sent_request import as_sent, masked_pairs
from .types import (
    DELIVERED,
    GIVE_UP,
    RETRY,
    AttemptResult,
    DeliveryPlan,
    Outcome,
    WebhookRequest,
)
from .webhooks import endpoint_of as endpoint_of_url

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 425, 429})
EXCERPT_BYTES = 512  # of each response, stored with the attempt
MAX_BODY_BYTES = 64 * 1024  # read (and drop) at most this much to keep the connection
_SENSITIVE_HEADER = re.compile(r"auth|token|key|secret|signature|cookie|password", re.I)
_OBJECT_ADDRESS = re.compile(r"<[^<>]* object at 0x[0-9a-f]+>")


class DeadlineExceeded(Exception):
    """A response took longer than the overall deadline (connect + 2 x read)."""


def verdict_for_status(status: int) -> str:
    if 200 <= status < 300:
        return DELIVERED
    if status in RETRYABLE_STATUSES or 500 <= status < 600:
        return RETRY
    return GIVE_UP


def verdict_for(attempt: AttemptResult) -> str:
    return RETRY if attempt.status_code is None else verdict_for_status(attempt.status_code)


def endpoint_of(request: WebhookRequest) -> str:
    return request.endpoint or endpoint_of_url(request.url)


class HttpSender:
    def __init__(self, sessions: SessionPool, connect_timeout: float = 5.0,
                 read_timeout: float = 15.0, *, clock: Callable[[], float] = time.time):
        self.sessions = sessions
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        # A CRM that trickles its response byte by byte never trips the read timeout.
        self.deadline = connect_timeout + 2 * read_timeout
        self.clock = clock
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)

    # -- one plan ---------------------------------------------------------------

    def set_timeouts(self, connect_timeout: float, read_timeout: float) -> None:
        """New timeouts (a reload) for the requests sent from now on."""
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.deadline = connect_timeout + 2 * read_timeout
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)

    def send_plan(self, plan: DeliveryPlan) -> Outcome:
        if plan.mode == PARALLEL and len(plan.requests) > 1:
            return self._parallel(plan.requests)
        if plan.mode == FAILOVER:
            return self._failover(plan.requests)
        return self._judge([self.send(plan.requests[0])], decisive=0)

    def _failover(self, requests_: list[WebhookRequest]) -> Outcome:
        attempts: list[AttemptResult] = []
        for request in requests_:
            attempts.append(self.send(request))
            if verdict_for(attempts[-1]) != RETRY:
                break
        return self._judge(attempts, decisive=len(attempts) - 1)

    def _parallel(self, requests_: list[WebhookRequest]) -> Outcome:
        greenlets = [gevent.spawn(self.send, request) for request in requests_]
        gevent.joinall(greenlets)  # each is bounded by self.deadline
        attempts = [g.value if g.successful() else self._crashed(r, g.exception)
                    for g, r in zip(greenlets, requests_)]
        verdicts = [verdict_for(a) for a in attempts]
        for wanted in (DELIVERED, RETRY, GIVE_UP):  # the best verdict decides
            if wanted in verdicts:
                return self._judge(attempts, decisive=verdicts.index(wanted))
        raise AssertionError(verdicts)

    def _judge(self, attempts: list[AttemptResult], decisive: int) -> Outcome:
        main = attempts[decisive]
        verdict = verdict_for(main)
        reason = "" if verdict == DELIVERED else describe(main)
        if verdict != DELIVERED and len(attempts) > 1:
            others = "; ".join(describe(a) for i, a in enumerate(attempts) if i != decisive)
            reason = f"{reason} (also: {others})"
        waits = [a.retry_after for a in attempts if a.retry_after is not None]
        return Outcome(verdict, attempts, reason, max(waits) if waits else None)

    def _crashed(self, request: WebhookRequest, exc: BaseException | None) -> AttemptResult:
        return AttemptResult(request.redacted_url, self.clock(), 0.0, None,
                             scrub(f"internal error: {exc!r}", request), "",
                             endpoint=endpoint_of(request),
                             request=as_sent(request, None, secret_values(request)))

    # -- one request --------------------------------------------------------------

    def send(self, request: WebhookRequest) -> AttemptResult:
        started_at, started = self.clock(), time.perf_counter()
        endpoint = endpoint_of(request)
        status, error, excerpt, retry_after, sent_headers = None, "", "", None, None
        secrets = secret_values(request)
        try:
            with gevent.Timeout(self.deadline, DeadlineExceeded(
                    f"no complete response in {self.deadline:g} s")):
                if needs_session(request):
                    status, body, retry_header, sent_headers = self._send_with_session(request)
                else:
                    sent_headers = self._pool_headers(request)
                    status, body, retry_header = self._send_on_pool(request, sent_headers)
            excerpt = scrub(body[:EXCERPT_BYTES].decode("utf-8", "replace"), request, secrets)
            retry_after = parse_retry_after(retry_header, self.clock())
            if 300 <= status < 400:
                error = "redirects are not followed: fix the URL"
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError,
                DeadlineExceeded) as exc:
            error = scrub(self._describe_error(exc), request, secrets)
            prepared = getattr(exc, "request", None)  # requests (Digest): what it prepared
            if prepared is not None and getattr(prepared, "headers", None) is not None:
                sent_headers = prepared.headers
        latency_ms = (time.perf_counter() - started) * 1000.0
        return AttemptResult(request.redacted_url, started_at, round(latency_ms, 3), status,
                             error, excerpt, retry_after, endpoint,
                             as_sent(request, sent_headers, secrets))

    def _pool_headers(self, request: WebhookRequest) -> dict[str, str]:
        """The headers the pool sends (``http.client`` adds only Host and
        Content-Length, recorded here too for the attempt's stored request)."""
        headers = headers_for(request, self.sessions.default_headers)
        if request.body is not None:
            headers.setdefault("Content-Length", str(len(request.body)))
        return headers

    def _send_on_pool(self, request: WebhookRequest,
                      headers: dict[str, str]) -> tuple[int, bytes, str | None]:
        """The request on the endpoint's urllib3 pool: (status, body, Retry-After)."""
        pool = self.sessions.pool(endpoint_of(request), request.url)
        response = pool.urlopen(request.method, target_of(request), body=request.body,
                                headers=headers,
                                timeout=self._timeout, retries=False, redirect=False,
                                assert_same_host=False, preload_content=False)
        try:
            # read to the end returns the connection to the pool by itself
            body = response.read(MAX_BODY_BYTES)
        finally:
            if not response.closed:  # more than MAX_BODY_BYTES, or an error: drop it
                response.close()
            response.release_conn()
        return response.status, body, response.headers.get("Retry-After")

    def _send_with_session(self, request: WebhookRequest) -> tuple[int, bytes, str | None, dict]:
        session = self.sessions.get(endpoint_of(request))
        response = session.request(
            request.method, request.url, params=request.params or None,
            headers=request.headers, data=request.body, auth=request.auth,
            timeout=(self.connect_timeout, self.read_timeout),
            allow_redirects=False, stream=True)
        try:
            body = _read_capped(response)
        finally:
            response.close()
        return (response.status_code, body, response.headers.get("Retry-After"),
                response.request.headers)

    def _describe_error(self, exc: BaseException) -> str:
        if isinstance(exc, DeadlineExceeded):
            return str(exc)
        if isinstance(exc, requests.exceptions.ConnectTimeout) or (
                isinstance(exc, ConnectTimeoutError) and not isinstance(exc, NewConnectionError)):
            return f"connect timeout after {self.connect_timeout:g} s"
        if isinstance(exc, (requests.exceptions.ReadTimeout, ReadTimeoutError)):
            return f"read timeout after {self.read_timeout:g} s"
        kind = ("TLS error" if isinstance(exc, (requests.exceptions.SSLError, Urllib3SSLError))
                else "connection error" if isinstance(exc, (requests.exceptions.ConnectionError,
                                                            NewConnectionError, ProtocolError,
                                                            OSError))
                else type(exc).__name__)
        return f"{kind}: {_root_reason(exc)}"


def _read_capped(response: requests.Response) -> bytes:
    """The body up to MAX_BODY_BYTES; past that the connection is dropped."""
    chunks, size = [], 0
    for chunk in response.iter_content(8192):
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_BODY_BYTES:
            break
    return b"".join(chunks)


def _root_reason(exc: BaseException) -> str:
    """The innermost cause's message ("[Errno 111] Connection refused")."""
    seen, current = set(), exc
    while id(current) not in seen:
        seen.add(id(current))
        inner = (getattr(current, "reason", None) if isinstance(
            getattr(current, "reason", None), BaseException) else None)
        if inner is None and current.args and isinstance(current.args[0], BaseException):
            inner = current.args[0]
        inner = inner or current.__cause__ or current.__context__
        if inner is None:
            break
        current = inner
    text = str(current) or type(current).__name__
    text = _OBJECT_ADDRESS.sub("", text).lstrip(": ").strip()
    return text or type(current).__name__


def describe(attempt: AttemptResult) -> str:
    """One line for last_error and logs, e.g. 'HTTP 503 from https://crm/...?secret=***'."""
    what = attempt.error if attempt.status_code is None else f"HTTP {attempt.status_code}"
    if attempt.status_code is not None and attempt.error:
        what = f"{what} ({attempt.error})"
    return f"{what} from {attempt.url}"


def secret_values(request: WebhookRequest) -> list[str]:
    """The values a log line or stored text must never contain: query values
    that ``redacted_url`` hides, sensitive headers, the auth object's strings."""
    hidden = {key for key, value in masked_pairs(request.redacted_url) if "***" in value}
    query = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
    query.update(request.params)
    values = [v for k, v in query.items() if k in hidden]
    real_path, shown_path = urlsplit(request.url).path, urlsplit(request.redacted_url).path
    values += [real for real, shown in zip(real_path.split("/"), shown_path.split("/"))
               if real != shown]
    for name, value in request.headers.items():
        if _SENSITIVE_HEADER.search(name):
            values += [value, *value.split(" ", 1)[1:]]  # "Bearer <token>": the token too
    values += request.secrets
    if request.auth is not None:
        attributes = getattr(request.auth, "__dict__", {})
        values += [v for v in attributes.values() if isinstance(v, str)]
    return sorted({v for v in values if len(v) >= 3}, key=len, reverse=True)


def scrub(text: str, request: WebhookRequest, secrets: list[str] | None = None) -> str:
    """``secrets``: ``secret_values(request)`` when the caller has them already."""
    if not text:
        return text
    text = text.replace(request.url, request.redacted_url)
    for value in secret_values(request) if secrets is None else secrets:
        if value in text:
            text = text.replace(value, "***")
    return text
