"""Shared by tests/test_delivery*.py: a scriptable CRM over real HTTP, a
planner following the contract's URLs, a controllable clock, outbox rows."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import parse_qsl

import gevent
from gevent.event import Event

from esl_connector.api.server import NoDelayWSGIServer
from esl_connector.crm_receiver import ReceivedRequest
from esl_connector.delivery.types import DeliveryPlan, WebhookRequest
from esl_connector.records import CALL_LOG, CrmEvent
from esl_connector.settings.customers import SINGLE
from storage.batch import write_batch
from storage.db import open_database
from storage.migrations import migrate
from storage.rows import Batch, outbox_row

SECRET = "s3cr3t-Token-42"


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not met within {timeout} s"
        gevent.sleep(0.005)


class FakeClock:
    def __init__(self, start: float | None = None):
        self.now = float(int(time.time())) if start is None else start  # rows use real time

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class _Server(NoDelayWSGIServer):
    """Keeps its open connections, so that stopping it drops them as a CRM
    that goes down does (a stopped gevent server keeps serving keep-alive ones)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.connections: set = set()

    def handle(self, sock, address):
        self.connections.add(sock)
        try:
            return super().handle(sock, address)
        finally:
            self.connections.discard(sock)

    def drop_connections(self) -> None:
        for sock in list(self.connections):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class ScriptedCrm:
    """A CRM on 127.0.0.1:<port 0>. ``policy(request)`` returns None (200) or
    (status, headers[, body]); ``gate`` (an Event), when set, holds every
    response until it is set. Each request keeps its client port
    (``request.headers['X-Client-Port']``) to check keep-alive."""

    def __init__(self, port: int = 0, policy=None):
        self.requests: list[ReceivedRequest] = []
        self.answered: list[tuple[ReceivedRequest, int]] = []  # with the status sent back
        self.policy = policy
        self.gate: Event | None = None
        self.holding = 0
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), self._app, log=None, error_log=None)

    def start(self) -> ScriptedCrm:
        self._server.start()
        return self

    def stop(self) -> None:
        """Down: no new connection, and the open ones dropped."""
        self._server.close()
        self._server.drop_connections()
        self._server.stop(timeout=1)

    @property
    def port(self) -> int:
        return self._server.server_port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def of_type(self, event_type: str) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.event_type == event_type]

    def event_ids(self) -> list[str]:
        return [r.headers.get("X-Event-Id", "") for r in self.requests]

    def _app(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items()
                   if k.startswith("HTTP_")}
        headers["X-Client-Port"] = str(environ.get("REMOTE_PORT", ""))
        request = ReceivedRequest(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""),
                                  dict(parse_qsl(environ.get("QUERY_STRING", ""))), headers, body)
        if self.gate is not None:
            self.holding += 1
            try:
                self.gate.wait()
            finally:
                self.holding -= 1
        answer = self.policy(request) if self.policy else None
        status, extra, reply = 200, [], b'{"status":"success"}'
        if answer is not None:
            status, extra = answer[0], list(answer[1].items())
            reply = answer[2] if len(answer) > 2 else json.dumps({"code": status}).encode()
        with self._lock:
            self.requests.append(request)
            self.answered.append((request, status))
        start_response(f"{status} X", [("Content-Type", "application/json"),
                                       ("Content-Length", str(len(reply))), *extra])
        return [reply]


def contract_request(event, base_url: str, customer: str) -> WebhookRequest:
    url = f"{base_url}/wsapi/{customer}/{event.event_type}"
    headers = {"X-Event-Id": event.event_id}
    if event.event_type == CALL_LOG:
        return WebhookRequest("POST", f"{url}?secret={SECRET}", f"{url}?secret=***",
                              headers={**headers, "Content-Type": "application/json"},
                              body=json.dumps(event.params).encode(),
                              endpoint=base_url)
    params = {"secret": SECRET, **{k: str(v) for k, v in event.params.items()}}
    return WebhookRequest("GET", url, f"{url}?secret=***", params=params, headers=headers,
                          endpoint=base_url)


def planner(routes: dict[str, tuple[str, str]], mode: str = SINGLE, backups=()):
    """``routes``: extension -> (customer, base URL); other extensions: no owner."""
    def plan_for(event, call_params):
        route = routes.get(event.extension)
        if route is None:
            return None
        customer, base = route
        requests = [contract_request(event, url, customer) for url in (base, *backups)]
        return DeliveryPlan(event.event_id, customer, mode, requests)
    return plan_for


def new_db(path):
    db = open_database(str(path))
    migrate(db)
    return db


def crm_event(callid: str, event_type: str, extension: str = "101", domain: str = "d1"):
    params = ({"callid": callid, "extension": extension, "phone": "0901", "status": "ANSWERED",
               "duration": 20, "billsec": 10} if event_type == CALL_LOG
              else {"phone": "0901", "extension": extension, "callid": callid})
    return CrmEvent(event_type, callid, extension, domain, params, 1.0)


def add_events(db, events: list[CrmEvent], now: float) -> None:
    write_batch(db, Batch(events=[outbox_row(e, now) for e in events]))
    db.close()
