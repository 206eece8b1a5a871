"""The connector's HTTP server: one WSGI app, routes contributed by modules.

Every handler is ``handler(request, ctx, **url_args)`` and returns a
``werkzeug.Response`` or a JSON-able value (sent as ``200 application/json``).
Every error, whatever raised it, leaves as JSON::

    {"status": "error", "code": "<machine_code>", "message": "<human text>"}

with the right HTTP status: handlers raise ``ApiError``; unknown paths and
methods become ``not_found``/``method_not_allowed``; anything unexpected is
logged with its traceback and answered ``500 internal_error`` without details.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gevent.pywsgi import WSGIServer
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024


class ApiError(Exception):
    """An error the client should see, as ``status`` with a machine ``code``."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return Response(body, status=status, headers=headers, content_type="application/json")


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"status": "error", "code": code, "message": message}, status, headers)


@dataclass(slots=True)
class Route:
    path: str                      # werkzeug rule, e.g. "/api/v1/calls/<callid>"
    handler: Callable[..., Any]    # handler(request, ctx, **url_args)
    methods: tuple[str, ...] = ("GET",)
    max_body: int = MAX_REQUEST_BYTES  # larger request bodies are refused (413) before the handler


class HttpApi:
    """The WSGI application. ``ctx`` is whatever the handlers need (built by
    the app wiring); routes come from the feature modules."""

    def __init__(self, ctx: Any, routes: Iterable[Route]):
        self.ctx = ctx
        routes = list(routes)
        self._handlers = {f"r{i}": r.handler for i, r in enumerate(routes)}
        self._limits = {f"r{i}": r.max_body for i, r in enumerate(routes)}
        self._map = Map([Rule(r.path, endpoint=f"r{i}", methods=list(r.methods), strict_slashes=False)
                         for i, r in enumerate(routes)])

    def __call__(self, environ, start_response):
        request = Request(environ)
        request.max_content_length = MAX_REQUEST_BYTES
        return self.dispatch(request)(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        try:
            endpoint, args = self._map.bind_to_environ(request.environ).match()
            limit = self._limits[endpoint]
            request.max_content_length = limit
            if (request.content_length or 0) > limit:
                raise ApiError(413, "request_too_large", f"request bodies are limited to {limit} bytes")
            result = self._handlers[endpoint](request, self.ctx, **args)
            return result if isinstance(result, Response) else json_response(result)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.headers)
        except NotFound:
            return error_response(404, "not_found", f"no such path: {request.path}")
        except MethodNotAllowed as exc:
            allowed = ", ".join(exc.valid_methods or [])
            return error_response(405, "method_not_allowed", f"{request.method} is not allowed here"
                                  + (f" (use {allowed})" if allowed else ""), {"Allow": allowed})
        except HTTPException as exc:  # e.g. 413 from max_content_length
            return error_response(exc.code or 400, (exc.name or "bad_request").lower().replace(" ", "_"),
                                  exc.description or exc.name)
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return error_response(500, "internal_error", "internal error; see the connector's log")


class NoDelayWSGIServer(WSGIServer):
    """pywsgi writes a response's headers and body separately: without
    TCP_NODELAY, Nagle and the client's delayed ACK add ~40 ms to every
    keep-alive response."""

    def handle(self, sock, address):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # not TCP (a unix socket)
            pass
        return super().handle(sock, address)


class HttpServer:
    """gevent WSGI server for an ``HttpApi``; TLS when a certificate is given."""

    def __init__(self, app: Callable, host: str = "127.0.0.1", port: int = 0,
                 certfile: str | None = None, keyfile: str | None = None):
        ssl_args = {}
        if certfile:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(certfile, keyfile)
            ssl_args["ssl_context"] = context
        self.tls = bool(certfile)
        self._server = NoDelayWSGIServer((host, port), app, log=None, error_log=log, **ssl_args)

    @property
    def address(self) -> tuple[str, int]:
        return self._server.address[0], self._server.server_port

    @property
    def url(self) -> str:
        host, port = self.address
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def start(self) -> HttpServer:
        self._server.start()
        log.info("HTTP API listening on %s", self.url)
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._server.stop(timeout=timeout)
