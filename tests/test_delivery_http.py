"""delivery_http: outcome classes, failover and parallel semantics, keep-alive,
secrets kept out of errors, excerpts and logs; retry_schedule."""

import json
import logging
import random
from email.utils import formatdate

import pytest
from requests.auth import HTTPBasicAuth

from esl_connector.delivery.retry_schedule import RetrySchedule, parse_retry_after
from esl_connector.delivery.sender import HttpSender, SessionPool, scrub, verdict_for_status
from esl_connector.delivery.types import (
    DELIVERED,
    GIVE_UP,
    RETRY,
    DeliveryPlan,
    WebhookRequest,
)
from esl_connector.settings.customers import FAILOVER, PARALLEL, SINGLE

from delivery_fixtures import SECRET, ScriptedCrm


@pytest.fixture
def crms():
    servers = [ScriptedCrm().start() for _ in range(2)]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture
def sender():
    pool = SessionPool(per_endpoint=4, user_agent="esl-connector/test")
    yield HttpSender(pool, connect_timeout=1.0, read_timeout=1.0)
    pool.close()


def request_to(base, path="/wsapi/acme/incoming_call"):
    return WebhookRequest("GET", f"{base}{path}", f"{base}{path}?secret=***",
                          params={"secret": SECRET, "phone": "0901"})


def plan(mode, *bases):
    return DeliveryPlan("e1", "acme", mode, [request_to(b) for b in bases])


def closed_url():
    server = ScriptedCrm().start()
    server.stop()
    return server.url


@pytest.mark.parametrize("status, verdict", [
    (200, DELIVERED), (204, DELIVERED), (299, DELIVERED), (408, RETRY), (425, RETRY),
    (429, RETRY), (500, RETRY), (502, RETRY), (503, RETRY), (400, GIVE_UP), (401, GIVE_UP),
    (403, GIVE_UP), (404, GIVE_UP), (410, GIVE_UP), (422, GIVE_UP), (301, GIVE_UP)])
def test_outcome_classes(status, verdict):
    assert verdict_for_status(status) == verdict


def test_single_keeps_the_connection_alive_and_sends_the_user_agent(crms, sender):
    for _ in range(10):
        assert sender.send_plan(plan(SINGLE, crms[0].url)).verdict == DELIVERED
    assert len({r.headers["X-Client-Port"] for r in crms[0].requests}) == 1
    assert crms[0].requests[0].headers["User-Agent"] == "esl-connector/test"


def test_failover_moves_on_after_a_5xx_or_a_connection_error(crms, sender):
    primary, backup = crms
    primary.policy = lambda r: (503, {})
    outcome = sender.send_plan(plan(FAILOVER, primary.url, backup.url))
    assert outcome.verdict == DELIVERED and [a.status_code for a in outcome.attempts] == [503, 200]
    outcome = sender.send_plan(plan(FAILOVER, closed_url(), backup.url))
    assert outcome.verdict == DELIVERED
    assert outcome.attempts[0].status_code is None and "connection error" in outcome.attempts[0].error


def test_failover_stops_at_a_permanent_failure_and_retries_when_all_fail(crms, sender):
    primary, backup = crms
    primary.policy = lambda r: (404, {})
    outcome = sender.send_plan(plan(FAILOVER, primary.url, backup.url))
    assert outcome.verdict == GIVE_UP and len(outcome.attempts) == 1 and backup.requests == []
    primary.policy = lambda r: (500, {"Retry-After": "30"})
    backup.policy = lambda r: (429, {"Retry-After": "60"})
    outcome = sender.send_plan(plan(FAILOVER, primary.url, backup.url))
    assert outcome.verdict == RETRY and outcome.retry_after == 60
    assert outcome.reason.startswith("HTTP 429 from ") and "(also: HTTP 500 from" in outcome.reason


def test_parallel_sends_to_all_and_any_2xx_delivers(crms, sender):
    primary, backup = crms
    primary.policy = lambda r: (503, {})
    outcome = sender.send_plan(plan(PARALLEL, primary.url, backup.url))
    assert outcome.verdict == DELIVERED and [a.status_code for a in outcome.attempts] == [503, 200]
    assert len(primary.requests) == len(backup.requests) == 1
    backup.policy = lambda r: (404, {})
    outcome = sender.send_plan(plan(PARALLEL, primary.url, backup.url))
    assert outcome.verdict == RETRY and outcome.reason.startswith("HTTP 503 from ")
    primary.policy = lambda r: (410, {})
    assert sender.send_plan(plan(PARALLEL, primary.url, backup.url)).verdict == GIVE_UP
    assert len(primary.requests) == len(backup.requests) == 3  # every attempt goes to all


def test_secrets_stay_out_of_errors_excerpts_and_debug_logs(crms, sender, caplog):
    caplog.set_level(logging.DEBUG)
    crms[0].policy = lambda r: (500, {}, f"bad secret {r.query['secret']} in {r.path}".encode())
    outcome = sender.send_plan(plan(SINGLE, crms[0].url))
    assert outcome.attempts[0].response_excerpt == "bad secret *** in /wsapi/acme/incoming_call"
    outcome = sender.send_plan(plan(SINGLE, closed_url()))
    assert outcome.attempts[0].error.startswith("connection error: ")
    text = repr(outcome) + caplog.text
    assert SECRET not in text and "secret=***" in outcome.reason


def test_scrub_covers_auth_objects_and_sensitive_headers():
    request = WebhookRequest("POST", "https://crm/hook", "https://crm/hook",
                             headers={"Authorization": "Bearer tok-123456", "X-Api-Key": "k-9876"},
                             auth=HTTPBasicAuth("user", "pa55word"))
    text = "Bearer tok-123456 k-9876 user:pa55word tok-123456"
    assert scrub(text, request) == "*** *** ***:*** ***"


def test_schedule_delays_jitter_and_max_age():
    schedule = RetrySchedule()
    assert [schedule.nominal_delay(n) for n in range(1, 9)] == [
        5, 300, 1800, 7200, 18000, 36000, 36000, 36000]
    rng = random.Random(7)
    for failures in range(1, 8):
        delay = schedule.next_attempt(failures, 0.0, 100.0, rng=rng) - 100.0
        nominal = schedule.nominal_delay(failures)
        assert 0.8 * nominal <= delay <= 1.2 * nominal
    assert schedule.next_attempt(1, 0.0, 100.0, retry_after=3600, rng=rng) == 3700.0
    assert schedule.next_attempt(1, 0.0, 3 * 86400 - 1.0) is None  # past max age: give up
    assert [n for n, _, _ in schedule.table()] == list(range(1, 13))
    assert schedule.table()[-1][2] <= 3 * 86400


def test_retry_after_parsing():
    now = 1_700_000_000.0
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(formatdate(now + 90, usegmt=True), now) == pytest.approx(90, abs=1)
    assert parse_retry_after(formatdate(now - 90, usegmt=True), now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("", now) is None and parse_retry_after(None, now) is None
    assert parse_retry_after("-5", now) is None


def test_each_attempt_keeps_its_request_as_sent_with_every_secret_masked(crms, sender):
    from esl_connector.delivery.sent_request import BODY_CAP
    from esl_connector.delivery.webhooks import ApiKeyAuth

    key, short = "api-key-9f31c7", "xy"  # a secret too short to replace in free text: masked by name
    body = json.dumps({"secret": short, "note": f"carries {SECRET}", "pad": "p" * 40000}).encode()
    request = WebhookRequest("POST", f"{crms[0].url}/crm", f"{crms[0].url}/crm?token=***&id=7",
                             params={"token": key, "id": "7"},
                             headers={"Content-Type": "application/json", "X-Event-Id": "e1"},
                             body=body, auth=ApiKeyAuth(key, "X-Api-Key"), secrets=(SECRET,))
    attempt = sender.send(request)
    stored = attempt.request
    assert attempt.status_code == 200 and attempt.endpoint == crms[0].url
    assert (stored["method"], stored["url"]) == ("POST", f"{crms[0].url}/crm?token=***&id=7")
    assert stored["headers"]["X-Api-Key"] == "***" and stored["headers"]["X-Event-Id"] == "e1"
    assert stored["headers"]["Content-Length"] == str(len(body))
    assert (stored["body_bytes"], stored["truncated"]) == (len(body), True)
    assert len(stored["body"].encode()) <= BODY_CAP
    assert stored["body"].startswith('{"secret": "***", "note": "carries ***"')
    assert key not in json.dumps(stored) and SECRET not in json.dumps(stored)

    basic = WebhookRequest("GET", f"{closed_url()}/crm", "(refused)", auth=HTTPBasicAuth("acme", "p4ssw0rd-9"))
    refused = sender.send(basic)
    assert refused.status_code is None and refused.request["headers"]["Authorization"] == "Basic ***"
    assert "p4ssw0rd-9" not in json.dumps(refused.request) and refused.request["body"] is None
