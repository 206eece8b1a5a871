"""The engine's sender puts on the wire exactly what a plain ``requests.Session``
sends for the same built webhook (method, path, query string, body, headers),
for every encoding and every kind of authentication; and it keeps what the
contract needs of an HTTP client: keep-alive, bodies read up to a cap,
compressed answers read as text, Retry-After."""

import gzip
import uuid

import pytest
import requests

from esl_connector.crm_receiver import CrmReceiver, ReceiverAuth
from esl_connector.delivery.sender import MAX_BODY_BYTES, HttpSender, SessionPool
from esl_connector.delivery.types import DELIVERED, GIVE_UP, RETRY, DeliveryPlan, WebhookRequest
from esl_connector.delivery.webhooks import build_plan
from esl_connector.settings.customer_config import parse_customers
from esl_connector.settings.customers import SINGLE
from storage.views import StoredEvent

from delivery_fixtures import ScriptedCrm

CALLID = str(uuid.UUID("7f3c1b2a-0d4e-4f5a-9b6c-8d7e6f5a4b3c"))
CALL_LOG = {"callid": CALLID, "calldate": "2019-08-16 15:29:30", "extension": "101",
            "phone": "0904824242", "duration": 23, "billsec": 11, "status": "ANSWERED",
            "recording": "https://pbx.example/rec/1.wav", "userfield": "đơn hàng 42"}
START = {"phone": "0904824242", "extension": "101", "callid": CALLID}
# Connection-specific: which TCP port the request came from.
UNCOMPARED = {"X-Client-Port"}


@pytest.fixture
def crm():
    receiver = CrmReceiver("127.0.0.1", 0).start()
    yield receiver
    receiver.stop()


@pytest.fixture
def sender():
    pool = SessionPool(per_endpoint=4)
    yield HttpSender(pool, connect_timeout=2.0, read_timeout=2.0)
    pool.close()


def customer(crm, **extra):
    table = {"code": "acme", "domain_crm": crm.url, "secret": "s3cr3t", "extensions": "101-150"}
    return parse_customers([{**table, **extra}], env={})[0]


def event(event_type):
    params = CALL_LOG if event_type == "call_answered" else START
    return StoredEvent(1, "evt-0001", event_type, CALLID, "101", "pbx.local", dict(params),
                       1700000000.0, 1700000000.0, "pending", 0, 0.0, "", None)


def with_requests(r: WebhookRequest) -> int:
    with requests.Session() as session:
        return session.request(r.method, r.url, params=r.params, data=r.body,
                               headers=r.headers, auth=r.auth, timeout=5).status_code


def wire(received):
    headers = {k: v for k, v in received.headers.items() if k not in UNCOMPARED}
    return received.method, received.path, received.query_string, received.body, headers


CASES = {
    "GET with the contract in the query": ({}, "incoming_call"),
    "POST JSON call log": ({}, "call_answered"),
    "form body": ({"events": {"call_answered": {"encoding": "form"}}}, "call_answered"),
    "signed GET": ({"signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "incoming_call"),
    "signed POST, secret in the body": ({"signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                         "events": {"call_answered": {"secret_in": "body"}}},
                                        "call_answered"),
    "URL with its own query": ({"events": {"incoming_call": {
        "url": "{base}/hooks/%7Eteam/{customer}.php?e={event}&x=a%20b"}}}, "incoming_call"),
    "basic auth": ({"auth": {"type": "basic", "username": "pbx", "password": "pa55"}}, "call_answered"),
    "bearer": ({"auth": {"type": "bearer", "token": "t0k3n"}}, "call_answered"),
    "API key header": ({"auth": {"type": "api_key", "token": "k3y", "header": "X-Api-Token"}},
                       "incoming_call"),
    "API key in the query": ({"auth": {"type": "api_key", "token": "k3y", "query": "apikey"}},
                             "incoming_call"),
}


@pytest.mark.parametrize("settings, event_type", list(CASES.values()), ids=list(CASES))
def test_the_sender_sends_what_requests_sends(crm, sender, settings, event_type):
    plan = build_plan(event(event_type), customer(crm, **settings), now=1700000000.0)
    assert with_requests(plan.requests[0]) == 200
    outcome = sender.send_plan(plan)
    assert outcome.verdict == DELIVERED, outcome.reason
    by_requests, by_sender = crm.requests[-2:]
    assert wire(by_sender) == wire(by_requests)
    assert crm.rejected == []


@pytest.mark.parametrize("auth, receiver_auth", [
    ({"type": "basic", "username": "pbx", "password": "pa55"}, ReceiverAuth("basic", "pbx", "pa55")),
    ({"type": "bearer", "token": "t0k3n"}, ReceiverAuth("bearer", token="t0k3n")),
    ({"type": "api_key", "token": "k3y"}, ReceiverAuth("api_key", token="k3y")),
    ({"type": "digest", "username": "pbx", "password": "d1gest-pw"}, ReceiverAuth("digest", "pbx", "d1gest-pw")),
], ids=["basic", "bearer", "api_key", "digest"])
def test_every_authentication_is_accepted_and_a_wrong_one_is_a_permanent_failure(
        crm, sender, auth, receiver_auth):
    crm.auth = receiver_auth
    good = build_plan(event("call_answered"), customer(crm, auth=auth))
    assert sender.send_plan(good).verdict == DELIVERED
    assert crm.requests[-1].json()["callid"] == CALLID
    wrong_key = "password" if "password" in auth else "token"
    bad = build_plan(event("call_answered"), customer(crm, auth={**auth, wrong_key: "wrong"}))
    outcome = sender.send_plan(bad)
    assert outcome.verdict == GIVE_UP and outcome.attempts[-1].status_code == 401
    assert "wrong" not in repr(outcome)


def plan_to(url: str) -> DeliveryPlan:
    return DeliveryPlan("e1", "acme", SINGLE, [WebhookRequest("GET", f"{url}/hook", f"{url}/hook")])


def test_a_body_past_the_cap_is_cut_and_its_connection_dropped(sender):
    crm = ScriptedCrm(policy=lambda r: (200, {}, b"x" * (MAX_BODY_BYTES * 3))).start()
    try:
        for _ in range(2):
            outcome = sender.send_plan(plan_to(crm.url))
            assert outcome.verdict == DELIVERED and len(outcome.attempts[0].response_excerpt) == 512
        crm.policy = None
        for _ in range(2):
            assert sender.send_plan(plan_to(crm.url)).verdict == DELIVERED
        ports = [r.headers["X-Client-Port"] for r in crm.requests]
        assert ports[0] != ports[1] != ports[2] and ports[2] == ports[3]  # kept once read whole
    finally:
        crm.stop()


def test_a_compressed_answer_is_stored_as_text_and_retry_after_is_kept(sender):
    answer = gzip.compress(b'{"error":"busy, come back later"}')
    crm = ScriptedCrm(policy=lambda r: (503, {"Content-Encoding": "gzip", "Retry-After": "120"},
                                        answer)).start()
    try:
        outcome = sender.send_plan(plan_to(crm.url))
        assert outcome.verdict == RETRY and outcome.retry_after == 120
        assert outcome.attempts[0].response_excerpt == '{"error":"busy, come back later"}'
        assert crm.requests[0].headers["Accept-Encoding"].startswith("gzip, deflate")
    finally:
        crm.stop()


def test_a_url_the_sender_cannot_speak_to_is_an_error_on_the_attempt(sender):
    outcome = sender.send_plan(plan_to("ftp://127.0.0.1:21"))
    assert outcome.verdict == RETRY and outcome.attempts[0].status_code is None
    assert "ftp" in outcome.attempts[0].error
