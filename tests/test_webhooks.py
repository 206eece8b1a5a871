"""Built webhook requests, sent with a plain requests.Session to a real
CrmReceiver on port 0: the exact wire format of each event and each option."""

import base64
import hashlib
import hmac
import socket
import uuid

import pytest
import requests

from esl_connector import __version__
from esl_connector.crm_receiver import CrmReceiver, ReceiverAuth
from esl_connector.delivery.webhooks import build_plan, planner, redact
from esl_connector.settings.customer_config import parse_customers
from esl_connector.settings.customers import CustomerDirectory
from storage.views import StoredEvent

CALLID = str(uuid.UUID("7f3c1b2a-0d4e-4f5a-9b6c-8d7e6f5a4b3c"))
SIGNING = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
CALL_LOG = {"callid": CALLID, "calldate": "2019-08-16 15:29:30", "extension": "101",
            "phone": "0904824242", "duration": 23, "billsec": 11, "status": "ANSWERED",
            "recording": "https://pbx.example/rec/1.wav", "userfield": "order-42"}


@pytest.fixture
def crm():
    receiver = CrmReceiver("127.0.0.1", 0).start()
    yield receiver
    receiver.stop()


def customer(crm, **extra):
    table = {"code": "acme", "domain_crm": crm.url, "secret": "s3cr3t", "extensions": "101-150"}
    return parse_customers([{**table, **extra}], env={})[0]


def event(event_type="incoming_call", params=None, event_id="evt-0001"):
    if params is None:
        params = CALL_LOG if event_type == "call_answered" else {
            "phone": "0904824242", "extension": "101", "callid": CALLID}
    return StoredEvent(1, event_id, event_type, CALLID, "101", "pbx.local", dict(params),
                       1700000000.0, 1700000000.0, "pending", 0, 0.0, "", None)


def send(plan, index=0):
    r = plan.requests[index]
    with requests.Session() as session:
        return session.request(r.method, r.url, params=r.params, data=r.body,
                               headers=r.headers, auth=r.auth, timeout=5)


def deliver(crm, plan, index=0):
    response = send(plan, index)
    assert response.status_code == 200, response.text
    return crm.requests[-1]


@pytest.mark.parametrize("event_type", ["incoming_call", "outgoing_call"])
def test_incoming_and_outgoing_call_are_the_guides_get_exactly(crm, event_type):
    plan = build_plan(event(event_type), customer(crm))
    got = deliver(crm, plan)
    assert (got.method, got.path) == ("GET", f"/wsapi/acme/{event_type}")
    assert got.query_string == f"secret=s3cr3t&phone=0904824242&extension=101&callid={CALLID}"
    assert got.body == b"" and "Content-Type" not in got.headers
    assert got.headers["X-Event-Id"] == "evt-0001"
    assert got.headers["User-Agent"] == f"esl-connector/{__version__}"
    assert "Webhook-Signature" not in got.headers
    assert (plan.event_id, plan.customer, plan.mode) == ("evt-0001", "acme", "single")


def test_call_answered_is_a_post_with_exactly_the_nine_fields(crm):
    got = deliver(crm, build_plan(event("call_answered"), customer(crm)))
    assert (got.method, got.path, got.query_string) == ("POST", "/wsapi/acme/call_answered", "secret=s3cr3t")
    assert got.headers["Content-Type"] == "application/json"
    assert got.body == (
        b'{"callid":"' + CALLID.encode() + b'","calldate":"2019-08-16 15:29:30","extension":"101",'
        b'"phone":"0904824242","duration":23,"billsec":11,"status":"ANSWERED",'
        b'"recording":"https://pbx.example/rec/1.wav","userfield":"order-42"}')


def test_call_log_types_hold_whatever_was_stored(crm):
    stored = {"callid": CALLID, "calldate": "2019-08-16 15:29:30", "extension": 101, "phone": "0904824242",
              "duration": "23", "billsec": 11.0, "status": "NO ANSWER", "unexpected": "dropped"}
    data = deliver(crm, build_plan(event("call_answered", stored), customer(crm))).json()
    assert list(data) == ["callid", "calldate", "extension", "phone", "duration", "billsec",
                          "status", "recording", "userfield"]
    assert (data["duration"], data["billsec"], data["extension"]) == (23, 11, "101")
    assert (data["recording"], data["userfield"]) == ("", "")


def test_put_with_a_form_body_and_post_with_the_query(crm):
    c = customer(crm, events={"outgoing_call": {"method": "PUT", "encoding": "form"},
                              "incoming_call": {"method": "post", "secret_in": "none"}})
    got = deliver(crm, build_plan(event("outgoing_call"), c))
    assert (got.method, got.query_string) == ("PUT", "secret=s3cr3t")
    assert got.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert got.body == f"phone=0904824242&extension=101&callid={CALLID}".encode()
    got = deliver(crm, build_plan(event("incoming_call"), c))
    assert (got.method, got.body) == ("POST", b"")
    assert got.query_string == f"phone=0904824242&extension=101&callid={CALLID}"


def test_secret_in_the_json_body_and_utf8_unescaped(crm):
    c = customer(crm, events={"call_answered": {"secret_in": "body"}})
    got = deliver(crm, build_plan(event("call_answered"), c, {"khach": "Nguyễn Văn Đức"}))
    assert got.query_string == ""
    assert got.body.startswith(b'{"secret":"s3cr3t","callid":')
    assert got.body.endswith('"khach":"Nguyễn Văn Đức"}'.encode())
    assert got.json()["khach"] == "Nguyễn Văn Đức"


def test_static_and_passthrough_params_never_override_the_contract(crm):
    c = customer(crm, params={"source": "pbx-hn"}, events={"incoming_call": {"params": {"tenant": "t1"}}})
    call_params = {"phone": "0999999999", "secret": "forged", "callid": "other", "source": "crm", "ref": "A 1&2"}
    got = deliver(crm, build_plan(event(), c, call_params))
    assert got.query_string == (f"secret=s3cr3t&phone=0904824242&extension=101&callid={CALLID}"
                                "&source=pbx-hn&tenant=t1&ref=A+1%262")
    data = deliver(crm, build_plan(event("call_answered"), c, call_params)).json()
    assert (data["phone"], data["callid"], data["source"], data["ref"]) == ("0904824242", CALLID, "pbx-hn", "A 1&2")
    assert "tenant" not in data and "secret" not in data
    c = customer(crm, events={"incoming_call": {"passthrough": False}})
    assert deliver(crm, build_plan(event(), c, call_params)).query.get("ref") is None


def test_a_url_template_keeps_its_own_query_first_but_not_over_contract_fields(crm):
    c = customer(crm, events={"incoming_call": {"url": "{base}/hooks/{customer}.php?e={event}&phone=x"}})
    got = deliver(crm, build_plan(event(), c))
    assert got.path == "/hooks/acme.php"
    assert got.query_string == f"e=incoming_call&secret=s3cr3t&phone=0904824242&extension=101&callid={CALLID}"


@pytest.mark.parametrize("auth, receiver_auth", [
    ({"type": "basic", "username": "pbx", "password": "pa55"}, ReceiverAuth("basic", "pbx", "pa55")),
    ({"type": "bearer", "token": "t0k3n"}, ReceiverAuth("bearer", token="t0k3n")),
    ({"type": "api_key", "token": "k3y", "header": "X-Api-Token"}, ReceiverAuth("api_key", token="k3y", name="X-Api-Token")),
    ({"type": "api_key", "token": "k3y"}, ReceiverAuth("api_key", token="k3y")),
])
def test_authentication_in_headers(crm, auth, receiver_auth):
    crm.auth = receiver_auth
    plan = build_plan(event("call_answered"), customer(crm, auth=auth))
    assert deliver(crm, plan).json()["callid"] == CALLID
    assert crm.rejected == []
    bad = build_plan(event("call_answered"), customer(crm, auth={**auth, ("password" if "password" in auth else "token"): "wrong"}))
    assert send(bad).status_code == 401


def test_api_key_in_the_query_is_signed_and_masked(crm):
    crm.auth = ReceiverAuth("api_key", token="k3y-secret", name="apikey", in_query=True)
    c = customer(crm, signing_secret=SIGNING, auth={"type": "api_key", "token": "k3y-secret", "query": "apikey"})
    plan = build_plan(event(), c)
    got = deliver(crm, plan)
    assert got.query_string.endswith("&apikey=k3y-secret")
    assert verify(SIGNING, got.headers, got.query_string.encode())
    assert "k3y-secret" not in plan.requests[0].redacted_url and "apikey=***" in plan.requests[0].redacted_url


def test_digest_challenge_is_answered_by_requests(crm):
    crm.auth = ReceiverAuth("digest", "pbx", "d1gest-pw")
    plan = build_plan(event("call_answered"), customer(crm, auth={"type": "digest", "username": "pbx", "password": "d1gest-pw"}))
    got = deliver(crm, plan)
    assert got.json()["callid"] == CALLID and got.query_string == "secret=s3cr3t"
    assert len(crm.rejected) == 1 and "Authorization" not in crm.rejected[0].headers   # the challenge
    assert got.headers["Authorization"].startswith('Digest username="pbx"')
    wrong = build_plan(event("call_answered"), customer(crm, auth={"type": "digest", "username": "pbx", "password": "nope"}))
    assert send(wrong).status_code == 401


def verify(secret: str, headers: dict, payload: bytes) -> bool:
    """Standard Webhooks verification, written from the specification."""
    key = base64.b64decode(secret.removeprefix("whsec_")) if secret.startswith("whsec_") else secret.encode()
    signed = f"{headers['Webhook-Id']}.{headers['Webhook-Timestamp']}.".encode() + payload
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(f"v1,{expected}", s) for s in headers["Webhook-Signature"].split(" "))


@pytest.mark.parametrize("secret", [SIGNING, "a raw signing secret"])
def test_standard_webhooks_signature_over_the_body_or_the_query(crm, secret):
    c = customer(crm, signing_secret=secret)
    got = deliver(crm, build_plan(event("call_answered"), c, now=1700000123.9))
    assert (got.headers["Webhook-Id"], got.headers["Webhook-Timestamp"]) == ("evt-0001", "1700000123")
    assert verify(secret, got.headers, got.body)
    got = deliver(crm, build_plan(event("incoming_call"), c, {"ref": "Đơn hàng 42"}))
    assert got.body == b"" and verify(secret, got.headers, got.query_string.encode())
    tampered = dict(got.headers, **{"Webhook-Timestamp": "1"})
    assert not verify(secret, tampered, got.query_string.encode())


def test_the_event_id_is_stable_across_rebuilds(crm):
    c = customer(crm, signing_secret=SIGNING)
    first, again = (build_plan(event(), c, now=t).requests[0].headers for t in (1000, 2000))
    assert first["X-Event-Id"] == again["X-Event-Id"] == first["webhook-id"] == "evt-0001"
    assert first["webhook-signature"] != again["webhook-signature"]


def test_failover_and_parallel_plans_list_every_url_in_order(crm):
    c = customer(crm, backup_domains=["crm2.acme.vn", "http://10.0.0.9:8080"],
                 events={"call_answered": {"backup_mode": "parallel"}})
    plan = build_plan(event(), c)
    assert plan.mode == "failover"
    assert [r.url for r in plan.requests] == [f"{crm.url}/wsapi/acme/incoming_call",
                                              "https://crm2.acme.vn/wsapi/acme/incoming_call",
                                              "http://10.0.0.9:8080/wsapi/acme/incoming_call"]
    assert [r.endpoint for r in plan.requests] == [crm.url, "https://crm2.acme.vn:443", "http://10.0.0.9:8080"]
    assert all(r.params == plan.requests[0].params for r in plan.requests)
    plan = build_plan(event("call_answered"), c)
    assert plan.mode == "parallel" and len(plan.requests) == 3


def test_secrets_never_reach_the_redacted_url_or_the_repr(crm):
    c = customer(crm, secret="Sup3r/S3cret&x", signing_secret=SIGNING,
                 auth={"type": "basic", "username": "pbx", "password": "b4sic-pw"})
    plan = build_plan(event(), c)
    request = plan.requests[0]
    assert request.params["secret"] == "Sup3r/S3cret&x"
    assert request.redacted_url == (f"{crm.url}/wsapi/acme/incoming_call"
                                    f"?secret=***&phone=0904824242&extension=101&callid={CALLID}")
    text = repr(plan)
    for secret in ("Sup3r/S3cret&x", "Sup3r%2FS3cret%26x", "b4sic-pw", SIGNING):
        assert secret not in text


def test_redact_cleans_a_real_requests_error_message(crm):
    with socket.socket() as s:   # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = customer(crm, domain_crm=f"http://127.0.0.1:{port}", secret="leaky-S3cret!")
    with pytest.raises(requests.ConnectionError) as info:
        send(build_plan(event(), c))
    message = str(info.value)
    assert "leaky-S3cret" in message     # requests puts the whole URL in its errors...
    cleaned = redact(message, c.secrets(), c.secret_params())
    assert "leaky-S3cret" not in cleaned and "secret=***" in cleaned
    assert redact("secret=abc&phone=1", ["abc"]) == "secret=***&phone=1"


def test_the_engines_planner_finds_the_owner_or_none(crm):
    plan_for = planner(CustomerDirectory([customer(crm)]), user_agent="", clock=lambda: 1234.0)
    plan = plan_for(event(), {"ref": "r1"})
    assert plan.customer == "acme" and plan.requests[0].params["ref"] == "r1"
    assert plan.requests[0].headers["User-Agent"] == f"esl-connector/{__version__}"
    unowned = event()
    unowned.extension = "999"
    assert plan_for(unowned, {}) is None
