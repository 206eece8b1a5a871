"""Click to call over real HTTP against a running connector connected to the
FreeSWITCH simulator: the guide's request, every error status, failed
originates recorded on the call, and the CRM's parameters coming back."""

import gevent
import pytest
from click2call_harness import ACME_SECRET, DOMAIN, Click2CallEnv, uuid_of

from esl_connector.api.click2call import Click2CallSettings, service
from esl_connector.records import CLICK_TO_CALL
from esl_connector.simulator import BUSY, NO_ANSWER

from esl_fake_server import wait_until


@pytest.fixture
def env(tmp_path, backend):
    made = Click2CallEnv(tmp_path, database=backend.url)
    made.register("101", "102", "103")
    yield made
    made.stop()


def error_of(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error" and body["code"] == code and set(body) == {"status", "code", "message"}
    return body["message"]


def test_the_guides_request_rings_the_agent_then_dials_the_customer(env):
    r = env.click2call(secret=ACME_SECRET, extension="101", phone="+84 904-824-242", userfield="ORDER-123",
                       crm_ticket="T-77", agent="Lan")
    assert r.status_code == 200, r.text
    body = r.json()
    callid = body["callid"]
    assert body["status"] == "success" and body["extension"] == "101" and body["phone"] == "0904824242"
    (command,) = env.originates()
    assert command == (
        f"originate {{origination_uuid={callid},cti_click2call=true,crm_userfield=ORDER-123,"
        "origination_caller_id_number=0904824242,origination_caller_id_name=0904824242,"
        f"originate_timeout=20}}user/101@{DOMAIN} "
        "&bridge({origination_caller_id_number=0281234567,origination_caller_id_name='Acme Co'}"
        "sofia/gateway/pstn/0904824242)")

    # every webhook of the call carries the callid and the CRM's parameters
    outgoing = env.wait_webhook(callid, "outgoing_call")
    assert outgoing.query["callid"] == callid and outgoing.query["phone"] == "0904824242"
    assert outgoing.query["crm_ticket"] == "T-77" and outgoing.query["agent"] == "Lan"
    assert outgoing.query["userfield"] == "ORDER-123" and "secret" in outgoing.query
    assert outgoing.query["secret"] == "crm-secret"  # the CRM's own secret, never the PBX's
    log = env.wait_webhook(callid, "call_answered").json()
    assert log["callid"] == callid and log["status"] == "ANSWERED" and log["userfield"] == "ORDER-123"
    assert log["crm_ticket"] == "T-77" and log["extension"] == "101" and log["phone"] == "0904824242"
    call = env.wait_call(callid, lambda c: c.state == "ended")
    assert call.params == {"userfield": "ORDER-123", "crm_ticket": "T-77", "agent": "Lan"}
    assert call.direction == CLICK_TO_CALL and call.status == "ANSWERED"
    sent = " ".join(r.query_string + r.body.decode() + str(r.headers) for r in env.crm.requests)
    assert ACME_SECRET not in sent


@pytest.mark.parametrize("method,path,kwargs", [
    ("GET", "click2call", {}),
    ("POST", "click2call.php", {"data": True}),
    ("POST", "click2call", {"json": True}),
])
def test_also_without_php_and_as_post_with_a_form_or_json(env, method, path, kwargs):
    params = {"secret": ACME_SECRET, "extension": "102", "phone": "0911222333", "userfield": "U-1"}
    if kwargs.get("data"):
        r = env.click2call(method=method, path=path, data=params)
    elif kwargs.get("json"):
        r = env.click2call(method=method, path=path, json=params)
    else:
        r = env.click2call(method=method, path=path, **params)
    assert r.status_code == 200, r.text
    assert uuid_of(env.originates()[-1]) == r.json()["callid"]
    assert env.call(r.json()["callid"]).params == {"userfield": "U-1"}


@pytest.mark.parametrize("params,code", [
    ({"extension": "101", "phone": ""}, "missing_parameter"),
    ({"phone": "0904824242"}, "missing_parameter"),
    ({"extension": "101", "phone": "09048x4242"}, "invalid_phone"),
    ({"extension": "101", "phone": "12"}, "invalid_phone"),
    ({"extension": "101", "phone": "+84" + "9" * 20}, "invalid_phone"),
    ({"extension": "1o1", "phone": "0904824242"}, "invalid_extension"),
    ({"extension": "101", "phone": "0904824242", "userfield": "a,b"}, "invalid_userfield"),
    ({"extension": "101", "phone": "0904824242", "userfield": "x" * 129}, "invalid_userfield"),
    ({"extension": "101", "phone": "0904824242", "bad name": "1"}, "invalid_parameter"),
])
def test_invalid_or_missing_parameters_are_400(env, params, code):
    message = error_of(env.click2call(secret=ACME_SECRET, **params), 400, code)
    assert ACME_SECRET not in message
    assert env.originates() == []


def test_a_parameter_given_twice_and_a_bad_body_are_400(env):
    r = env.session.get(f"{env.url}/wsapi/acme/click2call.php?secret={ACME_SECRET}&extension=101"
                        "&phone=0904824242&phone=0911222333")
    error_of(r, 400, "duplicate_parameter")
    r = env.session.post(f"{env.url}/wsapi/acme/click2call", data=b"[1,2]",
                         headers={"Content-Type": "application/json"})
    error_of(r, 400, "invalid_json")
    assert env.originates() == []


def test_wrong_or_missing_secret_is_401_and_unknown_customer_or_extension_404(env):
    error_of(env.click2call(secret="crm-secret", extension="101", phone="0904824242"), 401, "invalid_secret")
    error_of(env.click2call(extension="101", phone="0904824242"), 401, "invalid_secret")
    error_of(env.click2call(customer="nobody", secret=ACME_SECRET, extension="101", phone="0904824242"),
             404, "unknown_customer")
    # 201 exists and is registered, but belongs to beta
    env.register("201")
    error_of(env.click2call(secret=ACME_SECRET, extension="201", phone="0904824242"), 404, "unknown_extension")
    error_of(env.click2call(customer="beta", secret=ACME_SECRET, extension="201", phone="0904824242"),
             401, "invalid_secret")
    assert env.originates() == []


def test_repeated_wrong_secrets_from_one_address_are_throttled(tmp_path):
    env = Click2CallEnv(tmp_path, Click2CallSettings(auth_failure_burst=3, auth_failure_rate=0.01))
    try:
        env.register("101")
        for _ in range(3):
            error_of(env.click2call(secret="guess", extension="101", phone="0904824242"), 401, "invalid_secret")
        r = env.click2call(secret=ACME_SECRET, extension="101", phone="0904824242")
        error_of(r, 429, "too_many_failures")  # even the right secret: no oracle while throttled
        assert int(r.headers["Retry-After"]) >= 1
        assert env.originates() == []
    finally:
        env.stop()


def test_offline_and_busy_extensions_are_409_unless_configured(env):
    error_of(env.click2call(secret=ACME_SECRET, extension="104", phone="0904824242"), 409, "extension_offline")
    env.sim.pbx.configure("103", talk_time=3600.0)
    ringing = env.sim.pbx.internal_call("102", "103")
    wait_until(lambda: env.state("103") == "in_call", timeout=30, what="103 in a call")
    error_of(env.click2call(secret=ACME_SECRET, extension="103", phone="0904824242"), 409, "extension_busy")
    assert env.originates() == []
    ringing.kill("NORMAL_CLEARING")
    # beta: reject_when_offline/busy = false, so an unregistered extension is still dialled
    r = env.click2call(customer="beta", secret="beta-secret", extension="202", phone="0904824242")
    assert r.status_code == 200, r.text


def test_rate_limits_per_extension_and_per_customer_are_429(tmp_path):
    settings = Click2CallSettings(extension_burst=2, extension_rate=0.01, customer_burst=3, customer_rate=0.01)
    env = Click2CallEnv(tmp_path, settings)
    try:
        params = {"secret": "beta-secret", "phone": "0904824242"}
        assert env.click2call("beta", extension="201", **params).status_code == 200
        assert env.click2call("beta", extension="201", **params).status_code == 200
        r = env.click2call("beta", extension="201", **params)  # third on 201: its bucket is empty
        error_of(r, 429, "rate_limited")
        assert int(r.headers["Retry-After"]) >= 1
        assert env.click2call("beta", extension="202", **params).status_code == 200
        error_of(env.click2call("beta", extension="203", **params), 429, "rate_limited")  # beta's 4th
        assert len(env.originates()) == 3
    finally:
        env.stop()


def test_freeswitch_not_connected_is_503(env):
    env.sim.stop()
    wait_until(lambda: not env.connector.client.connected, timeout=30, what="disconnected")
    error_of(env.click2call(secret=ACME_SECRET, extension="101", phone="0904824242"), 503,
             "freeswitch_unavailable")


def test_the_context_route_transfers_the_answered_agent_into_the_dialplan(env):
    r = env.click2call("beta", secret="beta-secret", extension="201", phone="84911222333")
    assert r.status_code == 200, r.text
    callid = r.json()["callid"]
    (command,) = env.originates()
    assert command == (
        f"originate {{origination_uuid={callid},cti_click2call=true,origination_caller_id_number=84911222333,"
        "origination_caller_id_name=84911222333,originate_timeout=30,"
        "effective_caller_id_number=0287654321}user/201 84911222333 XML from-crm")


@pytest.mark.parametrize("setup,status,cause", [
    (lambda pbx: pbx.configure("102", behaviour=BUSY), "BUSY", "USER_BUSY"),
    (lambda pbx: pbx.configure("102", behaviour=NO_ANSWER), "NO ANSWER", "NO_ANSWER"),
    (lambda pbx: pbx.unregister("102"), "FAILED", "USER_NOT_REGISTERED"),
    (lambda pbx: pbx.set_far_end("0904824242", outcome=BUSY), "BUSY", None),
])
def test_a_failed_originate_is_recorded_on_the_call_and_in_the_call_log(tmp_path, setup, status, cause):
    env = Click2CallEnv(tmp_path)
    try:
        env.register("102")
        env.ctx.directory.get("acme").click2call.reject_when_offline = False
        setup(env.sim.pbx)
        r = env.click2call(secret=ACME_SECRET, extension="102", phone="0904824242", userfield="ORD-9", lead="42")
        assert r.status_code == 200, r.text
        callid = r.json()["callid"]
        call = env.wait_call(callid, lambda c: c.state == "ended" and c.status, what="the call ended")
        assert call.status == status and (cause is None or call.hangup_cause == cause)
        log = env.wait_webhook(callid, "call_answered").json()
        assert (log["callid"], log["status"], log["userfield"], log["lead"]) == (callid, status, "ORD-9", "42")
        service(env.ctx).watchers.join(timeout=5)
        assert env.call(callid).status == status  # the job watcher did not contradict the tracker
    finally:
        env.stop()


def test_the_200_does_not_wait_for_the_agent(env):
    env.sim.pbx.configure("101", answer_after=3600.0)  # 36 s of real time at this speed
    with gevent.Timeout(2):
        r = env.click2call(secret=ACME_SECRET, extension="101", phone="0904824242")
    assert r.status_code == 200
