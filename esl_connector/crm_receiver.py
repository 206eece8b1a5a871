"""A local stand-in for a CRM: receives the contract's webhooks and shows them.

For the demo, for CRM vendors who want to see exactly what the connector will
send them, and for the tests: every request is kept (method, path, query,
the raw query string, headers, the raw body) and printed as one line.
``fail_next(n, status)`` makes the next n requests fail, to watch retries;
``status_for(request)`` chooses every other answer's status (a flaky CRM).

``auth=ReceiverAuth(...)`` makes it demand credentials as a CRM would: Basic,
Bearer, an API key (header or query parameter) or a real Digest challenge
(RFC 7616, MD5, qop="auth"). Refused requests get 401 and are kept apart in
``rejected``. Verifying Standard Webhooks signatures is left to the caller.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

from .api.server import HttpServer

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
MAX_KEPT = 10000


@dataclass(slots=True)
class ReceivedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    received_at: float = field(default_factory=time.time)
    query_string: str = ""  # exactly as received, without the "?"
    status: int = 200  # what the receiver answered

    @property
    def event_type(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def customer(self) -> str:
        parts = self.path.strip("/").split("/")
        return parts[1] if len(parts) >= 3 and parts[0] == "wsapi" else ""

    def json(self):
        return json.loads(self.body) if self.body else None

    def summary(self) -> str:
        is_json = self.headers.get("Content-Type", "").startswith("application/json")
        data = self.json() if self.body and is_json else None
        fields = {k: v for k, v in self.query.items() if k != "secret"}
        if isinstance(data, dict):
            fields.update(data)
        shown = " ".join(f"{k}={v}" for k, v in fields.items())
        return f"{self.method} {self.customer}/{self.event_type} {shown}"


DIGEST_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]*))')


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


@dataclass(slots=True)
class ReceiverAuth:
    """Credentials the receiver demands. ``kind``: basic | digest | bearer |
    api_key (header ``name``, or query parameter ``name`` when ``in_query``)."""

    kind: str
    username: str = ""
    password: str = ""
    token: str = ""
    name: str = "X-API-Key"
    in_query: bool = False
    realm: str = "esl-connector test CRM"
    _nonces: set = field(default_factory=set, repr=False)

    def challenge(self) -> list[tuple[str, str]]:
        if self.kind == "digest":
            nonce = secrets.token_hex(16)
            self._nonces.add(nonce)
            value = f'Digest realm="{self.realm}", nonce="{nonce}", qop="auth", algorithm=MD5, opaque="{nonce[:8]}"'
        elif self.kind == "basic":
            value = f'Basic realm="{self.realm}"'
        else:
            value = "Bearer" if self.kind == "bearer" else f'ApiKey name="{self.name}"'
        return [("WWW-Authenticate", value)]

    def accepts(self, method: str, path: str, query: str, query_params: dict, headers: dict) -> bool:
        given = headers.get("Authorization", "")
        if self.kind == "basic":
            expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            return hmac.compare_digest(given, f"Basic {expected}")
        if self.kind == "bearer":
            return hmac.compare_digest(given, f"Bearer {self.token}")
        if self.kind == "api_key":
            value = query_params.get(self.name, "") if self.in_query else headers.get(self.name.title(), "")
            return hmac.compare_digest(value, self.token)
        if self.kind == "digest":
            return self._digest_ok(method, path, query, given)
        raise ValueError(f"unknown auth kind {self.kind!r}")

    def _digest_ok(self, method: str, path: str, query: str, given: str) -> bool:
        """RFC 7616 (MD5, qop=auth): response = H(H(A1):nonce:nc:cnonce:qop:H(A2))."""
        if not given.startswith("Digest "):
            return False
        p = {k: quoted or bare for k, quoted, bare in DIGEST_PARAM.findall(given[7:])}
        target = path + (f"?{query}" if query else "")
        if (p.get("nonce") not in self._nonces or p.get("username") != self.username
                or p.get("realm") != self.realm or p.get("qop") != "auth" or unquote(p.get("uri", "")) != target):
            return False
        ha1 = _md5(f"{self.username}:{self.realm}:{self.password}")
        ha2 = _md5(f"{method}:{p['uri']}")
        expected = _md5(f"{ha1}:{p['nonce']}:{p.get('nc', '')}:{p.get('cnonce', '')}:auth:{ha2}")
        return hmac.compare_digest(p.get("response", ""), expected)


class CrmReceiver:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 on_request: Callable[[ReceivedRequest], None] | None = None,
                 auth: ReceiverAuth | None = None,
                 status_for: Callable[[ReceivedRequest], int] | None = None):
        self.requests: list[ReceivedRequest] = []
        self.rejected: list[ReceivedRequest] = []  # refused with 401 by ``auth``
        self.auth = auth
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self._on_request = on_request
        self._status_for = status_for
        self._server = HttpServer(self._app, host, port)

    @property
    def address(self) -> tuple[str, int]:
        return self._server.address

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> CrmReceiver:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(timeout=1)

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def of_type(self, event_type: str) -> list[ReceivedRequest]:
        return [r for r in list(self.requests) if r.event_type == event_type]

    def _app(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_BODY:
            start_response("413 Payload Too Large", [("Content-Type", "application/json")])
            return [b'{"status":"error","message":"body too large"}']
        request = self._read(environ, length)
        auth = self.auth
        if auth is not None and not auth.accepts(request.method, environ.get("PATH_INFO", ""),
                                                 request.query_string, request.query, request.headers):
            with self._lock:
                self.rejected.append(request)
            start_response("401 Unauthorized", [("Content-Type", "application/json"), *auth.challenge()])
            return [b'{"status":"error","message":"unauthorized"}']
        with self._lock:
            if self._failures:
                status = self._failures.pop(0)
            else:
                status = self._status_for(request) if self._status_for is not None else 200
            request.status = status
            if len(self.requests) >= MAX_KEPT:
                del self.requests[: MAX_KEPT // 10]
            self.requests.append(request)
        if self._on_request is not None:
            self._on_request(request)
        reply = {"status": "success"} if status == 200 else {"status": "error", "code": status}
        start_response(f"{status} {'OK' if status == 200 else 'Error'}", [("Content-Type", "application/json")])
        return [json.dumps(reply).encode()]

    @staticmethod
    def _read(environ, length: int) -> ReceivedRequest:
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        query_string = environ.get("QUERY_STRING", "")
        return ReceivedRequest(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""),
                               dict(parse_qsl(query_string, keep_blank_values=True)),
                               headers, body, query_string=query_string)
