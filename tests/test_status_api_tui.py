"""The status API's additions for the TUI: per-extension figures (customer,
current call, calls today, answer rate), calls in progress in health, and a
delivery's request as sent, secrets redacted."""

from test_status_api import env, finish, get, simulator  # noqa: F401  (fixtures)

from esl_connector.api.status_extensions import day_start
from esl_connector.records import INCOMING_CALL, CallRecord, Changes, CrmEvent


def test_extensions_carry_their_customer_current_call_and_todays_figures(env):  # noqa: F811
    now = env.clock.now
    today = day_start(now)
    calls = [CallRecord(f"t{i}", "inbound", "ended", phone="0902", extension="101", domain="d1",
                        started_at=max(today, now - 600) + i, status="ANSWERED" if i < 3 else "NO ANSWER")
             for i in range(4)]
    calls.append(CallRecord("old", "inbound", "ended", extension="101", domain="d1", started_at=today - 60,
                            status="ANSWERED"))
    env.ctx.writer.submit(Changes(calls=calls))
    assert env.ctx.writer.flush()
    body = get(env, "/extensions").json()
    assert body["today_since"] == today
    exts = {e["extension"]: e for e in body["extensions"]}
    e101, e102, e103 = exts["101"], exts["102"], exts["103"]
    assert (e101["customer"], e101["calls_today"], e101["answered_today"], e101["answer_rate"]) == (
        "acme", 4, 3, 0.75)
    assert e101["call"] is None
    assert e102["customer"] == "beta" and e102["calls_today"] == 0 and e102["answer_rate"] is None
    assert e102["call"] == {"callid": "c3", "direction": "inbound", "state": "active", "phone": "0901",
                            "started_at": 3000.0, "answered_at": 0.0}
    assert e103["customer"] == "" and e103["call"] is None


def test_health_counts_the_calls_in_progress(env):  # noqa: F811
    assert get(env, "/health").json()["calls"] == {"active": 1}  # c3


def test_a_delivery_shows_its_request_with_every_secret_redacted(env):  # noqa: F811
    finish(env.db, 1, "delivered", "acme", 200, 1500.0)
    env.ctx.writer.submit(Changes(crm_events=[CrmEvent(INCOMING_CALL, "c1", "101", "d1", {
        "callid": "c1", "extension": "101", "phone": "0901", "note": "s3cr3t-acme"}, 1.0)]))
    assert env.ctx.writer.flush()
    delivery = get(env, "/deliveries/1").json()["delivery"]
    [request] = delivery["requests"]
    assert request["method"] in ("GET", "POST") and request["url"].startswith("https://crm.acme.vn/")
    shown = repr(request)
    assert "s3cr3t-acme" not in shown and "secret=***" in shown
    assert "phone=0901" in shown or '"phone":"0901"' in shown
    assert get(env, "/deliveries/5").json()["delivery"]["requests"] == []  # extension 999: nobody's


def test_an_endpoint_keeps_its_last_failure_after_a_success(env):  # noqa: F811
    now = env.clock.now
    finish(env.db, 2, "retrying", "acme", 503, now - 20)
    finish(env.db, 1, "delivered", "acme", 200, now - 10)
    [crm] = [e for e in get(env, "/deliveries/endpoints").json()["endpoints"] if e["requests"]]
    assert (crm["last_status_code"], crm["last_failure"], crm["last_failure_at"]) == (200, "HTTP 503", now - 20)


def test_an_endpoint_shared_by_two_customers_shows_each_ones_share(env):  # noqa: F811
    now = env.clock.now
    finish(env.db, 2, "retrying", "acme", 503, now - 20)  # finish(): every CRM at the same host
    finish(env.db, 1, "delivered", "acme", 200, now - 10)
    finish(env.db, 3, "dead", "beta", 404, now - 5)
    [crm] = [e for e in get(env, "/deliveries/endpoints").json()["endpoints"] if e["requests"]]
    shares = {c["customer"]: c for c in crm["by_customer"]}
    assert crm["customers"] == ["acme", "beta"] == list(shares) and crm["requests"] == 3
    acme, beta = shares["acme"], shares["beta"]
    assert (acme["requests"], acme["failed"], acme["error_rate"], acme["last_failure"]) == (2, 1, 0.5, "HTTP 503")
    assert (beta["requests"], beta["failed"], beta["error_rate"], beta["last_failure"]) == (1, 1, 1.0, "HTTP 404")
    assert acme["endpoint"] == beta["endpoint"] == crm["endpoint"] and acme["latency_avg_ms"] == 12.5
