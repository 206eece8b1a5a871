"""delivery connections: a kept-alive connection the CRM closed is noticed
before it is reused; the shortcuts the sender and planner take for speed give
exactly what the library functions they stand for give."""

import socket
import threading
from urllib.parse import parse_qsl, quote_plus, urlsplit

import pytest

from esl_connector.delivery.sender import HttpSender, SessionPool
from esl_connector.delivery.sent_request import masked_pairs
from esl_connector.delivery.types import DELIVERED, DeliveryPlan, WebhookRequest
from esl_connector.delivery.webhooks import _quote_plus
from esl_connector.settings.customers import SINGLE


class ClosingCrm:
    """Answers each request with 200 and keep-alive headers, then closes the
    connection a moment later, as a CRM behind a short keep-alive timeout does."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = 0
        self.closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> "ClosingCrm":
        self._thread.start()
        return self

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok")
            self.closed.set()

    def stop(self) -> None:
        self.listener.close()


@pytest.fixture
def crm():
    server = ClosingCrm().start()
    yield server
    server.stop()


def test_a_connection_the_crm_closed_is_not_reused(crm):
    pool = SessionPool(per_endpoint=1)
    sender = HttpSender(pool, connect_timeout=2.0, read_timeout=2.0)
    request = WebhookRequest("GET", f"{crm.url}/wsapi/acme/incoming_call",
                             f"{crm.url}/wsapi/acme/incoming_call?secret=***",
                             params={"secret": "s3cret", "phone": "0901"})
    try:
        first = sender.send_plan(DeliveryPlan("e1", "acme", SINGLE, [request]))
        assert crm.closed.wait(5.0)
        second = sender.send_plan(DeliveryPlan("e2", "acme", SINGLE, [request]))
    finally:
        pool.close()
    assert (first.verdict, second.verdict) == (DELIVERED, DELIVERED)
    assert second.attempts[0].error == ""
    assert crm.connections == 2


@pytest.mark.parametrize("url", [
    "http://crm/x",
    "http://crm/x?phone=0901&callid=abc",
    "http://crm/x?secret=***&phone=0901",
    "http://crm/x?token=ab***cd&secret=***&k=%2A%2A%2A&e=&q=a+b%2a%2A*",
    "http://crm/x?a=1;b=***&=***&novalue&secret",
    "http://crm/x?secret=%2A%2A%2A&api%5Fkey=***#frag",
])
def test_masked_pairs_are_the_query_pairs_that_may_hold_a_mask(url):
    every = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    assert list(masked_pairs(url)) == [(k, v) for k, v in every if "*" in v or "*" in k]


@pytest.mark.parametrize("text", [
    "", "0901234567", "abc-123_x.y~z", "a b", "a+b", "x/y", "é", "100%", "*", "a&b=c", "\x00", "~~..--__",
])
def test_quoting_shortcut_is_quote_plus(text):
    assert _quote_plus(text) == quote_plus(text)
