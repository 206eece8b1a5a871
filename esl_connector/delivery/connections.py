"""Keep-alive connections to the CRMs: one urllib3 pool per endpoint.

The sender talks to urllib3 (the HTTP layer ``requests`` is built on) directly:
``requests.Session.request`` prepares cookies, hooks, environment settings and
a response object around every request, which cost as much CPU as the HTTP
exchange itself. What a webhook needs of it is kept here: the same default
headers (``requests.utils.default_headers``), the URL quoted as ``requests``
quotes it and the query encoded as ``urlencode(params)``, the same CA bundle,
auth objects applied to the headers, no proxies, no ~/.netrc, no retries, no
redirects.

HTTP Digest needs a challenge round trip (401, then the answer): requests to
an endpoint with Digest auth go through a ``requests.Session`` of their own.
"""

from __future__ import annotations

import logging
import select
from functools import lru_cache
from urllib.parse import urlencode, urlsplit

import certifi
import requests
import urllib3
from gevent.monkey import get_original
from requests.adapters import HTTPAdapter
from requests.auth import HTTPDigestAuth
from requests.utils import default_headers, requote_uri

from .types import WebhookRequest

log = logging.getLogger(__name__)
_system_poll = get_original("select", "poll")


class _Headers:
    """What a ``requests`` auth object writes to: ``auth(request)`` sets headers."""

    __slots__ = ("headers",)

    def __init__(self, headers: dict[str, str]):
        self.headers = headers


def needs_session(request: WebhookRequest) -> bool:
    """Digest auth answers a challenge: only ``requests`` does that for us."""
    return isinstance(request.auth, HTTPDigestAuth)


def headers_for(request: WebhookRequest, defaults: dict[str, str]) -> dict[str, str]:
    """The request's headers over the defaults, with its auth applied (Basic,
    Bearer, API key in a header: each writes its ``Authorization``/key header)."""
    headers = {**defaults, **request.headers}
    if request.auth is not None:
        request.auth(_Headers(headers))
    return headers


@lru_cache(maxsize=1024)
def _path_of(url: str) -> tuple[str, str]:
    """``url`` -> (its path quoted as ``requests`` quotes it, its own query)."""
    parts = urlsplit(requote_uri(url))
    return parts.path or "/", parts.query


def target_of(request: WebhookRequest) -> str:
    """The request target sent on the request line: path and query string,
    the query exactly as ``requests`` builds it from ``params``."""
    path, query = _path_of(request.url)
    extra = urlencode(request.params) if request.params else ""
    query = f"{query}&{extra}" if query and extra else query or extra
    return f"{path}?{query}" if query else path


class _OneWrite:
    """Sends a request's headers and its body in ONE write. urllib3 and
    ``http.client`` write a body apart: a second TCP segment (``TCP_NODELAY``
    is set) the CRM's kernel and server wake up for, and a second system call."""

    _body_with_headers: bytes | None = None

    def request(self, method, url, body=None, headers=None, **kwargs):
        if isinstance(body, bytes) and body:
            headers = {**(headers or {}), "Content-Length": str(len(body))}
            self._body_with_headers, body = body, None
        try:
            super().request(method, url, body, headers, **kwargs)
        finally:
            self._body_with_headers = None

    def _send_output(self, message_body=None, encode_chunked=False):
        body, self._body_with_headers = self._body_with_headers, None
        if body is None:
            return super()._send_output(message_body, encode_chunked=encode_chunked)
        self._buffer.extend((b"", b""))
        message = b"\r\n".join(self._buffer) + body
        del self._buffer[:]
        self.send(message)
        return None


class _NoWatcherCheck:
    """Whether a kept-alive connection is still open, asked before each reuse,
    as urllib3 asks it (readable at once = closed by the CRM, or unexpected
    bytes): with the system's ``poll`` and a zero timeout, which never blocks.
    Under gevent urllib3's own check goes through gevent's ``select.poll``,
    which sets up and tears down an event-loop watcher per request."""

    @property
    def is_connected(self) -> bool:
        if self.sock is None:
            return False
        poller = _system_poll()
        poller.register(self.sock, select.POLLIN)
        return not poller.poll(0)


class _Connection(_NoWatcherCheck, _OneWrite, urllib3.connection.HTTPConnection):
    pass


class _TlsConnection(_NoWatcherCheck, _OneWrite, urllib3.connection.HTTPSConnection):
    pass


class SessionPool:
    """One keep-alive connection pool per endpoint (``scheme://host:port``),
    created on first use, at most ``per_endpoint`` connections kept each.
    Bounded by the number of endpoints configured, not by traffic."""

    def __init__(self, per_endpoint: int = 4, user_agent: str = ""):
        self.per_endpoint = per_endpoint
        self.user_agent = user_agent
        self.default_headers = dict(default_headers())
        if user_agent:
            self.default_headers["User-Agent"] = user_agent
        self._pools: dict[str, urllib3.HTTPConnectionPool] = {}
        self._sessions: dict[str, requests.Session] = {}
        # urllib3 logs every request line, query string (secret) included, at DEBUG.
        logging.getLogger("urllib3.connectionpool").setLevel(logging.INFO)

    def set_user_agent(self, user_agent: str) -> None:
        """A new default User-Agent (a reload), for every request from now on."""
        self.user_agent = user_agent
        self.default_headers = dict(default_headers())
        if user_agent:
            self.default_headers["User-Agent"] = user_agent
        for session in self._sessions.values():
            session.headers["User-Agent"] = user_agent or requests.utils.default_user_agent()

    def pool(self, endpoint: str, url: str) -> urllib3.HTTPConnectionPool:
        pool = self._pools.get(endpoint)
        if pool is None:
            pool = self._pools[endpoint] = self._new_pool(url)
        return pool

    def _new_pool(self, url: str) -> urllib3.HTTPConnectionPool:
        parsed = urllib3.util.parse_url(url)
        common = dict(maxsize=self.per_endpoint, block=False, retries=False)
        if parsed.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(parsed.host, parsed.port or 443,
                                               cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(),
                                               **common)
            pool.ConnectionCls = _TlsConnection
            return pool
        if parsed.scheme != "http":
            raise ValueError(f"cannot send to a {parsed.scheme!r} URL: use http or https")
        pool = urllib3.HTTPConnectionPool(parsed.host, parsed.port or 80, **common)
        pool.ConnectionCls = _Connection
        return pool

    def get(self, endpoint: str) -> requests.Session:
        """A ``requests.Session`` for this endpoint (Digest auth)."""
        session = self._sessions.get(endpoint)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # no ~/.netrc credentials or proxy surprises
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self.per_endpoint,
                                  max_retries=0, pool_block=False)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            if self.user_agent:
                session.headers["User-Agent"] = self.user_agent
            self._sessions[endpoint] = session
        return session

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        for session in self._sessions.values():
            session.close()
        self._pools.clear()
        self._sessions.clear()
