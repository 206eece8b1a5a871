"""A local stand-in for a CRM: receives the contract's webhooks and shows them.

For the demo, for CRM vendors who want to see exactly what the connector will
send them, and for the tests: every request is kept (method, path, query,
headers, body) and printed as one line. ``fail_next(n, status)`` makes the
next n requests fail, to watch retries.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import parse_qsl

from gevent.pywsgi import WSGIServer

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
        data = self.json() if self.body and self.headers.get("Content-Type", "").startswith("application/json") else None
        fields = {k: v for k, v in self.query.items() if k != "secret"}
        if isinstance(data, dict):
            fields.update(data)
        shown = " ".join(f"{k}={v}" for k, v in fields.items())
        return f"{self.method} {self.customer}/{self.event_type} {shown}"


class CrmReceiver:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 on_request: Callable[[ReceivedRequest], None] | None = None):
        self.requests: list[ReceivedRequest] = []
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self._on_request = on_request
        self._server = WSGIServer((host, port), self._app, log=None, error_log=log)

    @property
    def address(self) -> tuple[str, int]:
        return self._server.address[0], self._server.server_port

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    def start(self) -> "CrmReceiver":
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(timeout=1)

    def serve_forever(self) -> None:
        self._server.serve_forever()

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
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        request = ReceivedRequest(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""),
                                  dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)),
                                  headers, body)
        with self._lock:
            status = self._failures.pop(0) if self._failures else 200
            if len(self.requests) >= MAX_KEPT:
                del self.requests[: MAX_KEPT // 10]
            self.requests.append(request)
        if self._on_request is not None:
            self._on_request(request)
        reply = {"status": "success"} if status == 200 else {"status": "error", "code": status}
        start_response(f"{status} {'OK' if status == 200 else 'Error'}", [("Content-Type", "application/json")])
        return [json.dumps(reply).encode()]
