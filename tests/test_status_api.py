"""The status API over real HTTP: bearer auth, health against the simulator,
extensions, calls and their timelines, deliveries, retry, statistics, and
the OpenAPI document."""

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from esl_connector.api import recordings
from esl_connector.api import status as status_api
from esl_connector.api.context import ApiContext
from esl_connector.api.recordings import RecordingSettings
from esl_connector.api.server import HttpApi, HttpServer
from esl_connector.api.status_metrics import EventRate
from esl_connector.delivery.store import Transition, apply_transition
from esl_connector.delivery.types import AttemptResult
from esl_connector.esl.client import EventSocketClient
from esl_connector.records import (
    CALL_LOG,
    IDLE,
    INCOMING_CALL,
    OFFLINE,
    RINGING,
    CallRecord,
    Changes,
    CrmEvent,
    ExtensionRecord,
)
from esl_connector.settings.config import HttpSettings
from esl_connector.settings.customer_config import parse_customers
from esl_connector.settings.customers import CustomerDirectory
from esl_connector.simulator import Simulator
from storage.db import open_database
from storage.migrations import migrate
from storage.writer import StorageWriter

from delivery_fixtures import FakeClock, wait_until

TOKEN = "status-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
OPENAPI = Path(__file__).resolve().parents[1] / "esl_connector" / "api" / "openapi.json"


class Engine:
    """Stands in for the delivery engine: what the API asks of it."""

    def __init__(self):
        self.woken = 0
        self.busy_endpoints = {}

    def wake(self, _info=None):
        self.woken += 1

    def status(self):
        return {"running": True, "in_flight": 0, "busy_endpoints": dict(self.busy_endpoints)}


def call(callid, started, state="ended", extension="101", extensions=("101",)):
    return CallRecord(callid, "inbound", state, phone="0901", extension=extension, domain="d1",
                      extensions=list(extensions), started_at=started, ended_at=started + 30 if state == "ended" else 0,
                      status="ANSWERED" if state == "ended" else "", recording="/rec/a.wav")


def event(callid, event_type, extension="101"):
    return CrmEvent(event_type, callid, extension, "d1", {"callid": callid, "extension": extension,
                                                          "phone": "0901"}, 1.0)


@pytest.fixture(scope="module")
def simulator():
    sim = Simulator(port=0, extensions=["101", "102"]).start()
    yield sim
    sim.stop()


@pytest.fixture
def env(backend, simulator):
    db = open_database(backend.url)
    migrate(db)
    writer = StorageWriter(db, commit_window=0.01)
    writer.start()
    writer.submit(Changes(
        calls=[call("c1", 1000.0), call("c2", 2000.0, extension="102", extensions=("101", "102")),
               call("c3", 3000.0, state="active", extension="102", extensions=("102",))],
        crm_events=[event("c1", INCOMING_CALL), event("c1", CALL_LOG), event("c2", INCOMING_CALL, "102"),
                    event("c3", INCOMING_CALL, "102"), event("c9", INCOMING_CALL, "999")],
        extensions=[ExtensionRecord("101", "d1", IDLE, contact="sip:101@10.0.0.5:5060", user_agent="Zoiper"),
                    ExtensionRecord("102", "d1", RINGING, contact="sip:102@10.0.0.6", callid="c3"),
                    ExtensionRecord("103", "d1", OFFLINE)]))
    assert writer.flush()
    host, port = simulator.address
    esl = EventSocketClient(host, port, "ClueCon", on_event=lambda e: None, backoff_max=0.2)
    esl.start()
    directory = CustomerDirectory(parse_customers([
        {"code": "acme", "domain_crm": "crm.acme.vn", "secret": "s3cr3t-acme", "extensions": "101"},
        {"code": "beta", "domain_crm": "crm.beta.vn", "secret": "s3cr3t-beta", "extensions": "102"}], env={}))
    clock = FakeClock()
    ctx = ApiContext(db, esl, directory, writer=writer, delivery=Engine(), clock=clock,
                     settings=SimpleNamespace(http=HttpSettings(api_token=TOKEN), recordings=RecordingSettings()))
    server = HttpServer(HttpApi(ctx, status_api.routes() + recordings.routes())).start()
    wait_until(lambda: esl.connected, timeout=30, what="ESL connected")
    yield SimpleNamespace(ctx=ctx, db=db, url=server.url + "/api/v1", clock=clock, sim=simulator, esl=esl)
    server.stop()
    esl.stop()
    writer.stop()
    db.close()


def get(env, path, **kw):
    return requests.get(env.url + path, headers=kw.pop("headers", AUTH), **kw)


def finish(db, row_id, status, customer, code, at):
    apply_transition(db, Transition(row_id, 0, status, 1, at + 60, "" if code == 200 else f"HTTP {code}", customer,
                                    delivered_at=at if status == "delivered" else None,
                                    finished_at=at if status in ("delivered", "dead") else None,
                                    log=[AttemptResult("https://crm/x?secret=***", at, 12.5, code, "", "ok")]))
    db.close()


def assert_error(r, status, code):
    assert r.status_code == status, r.text
    assert r.json()["status"] == "error" and r.json()["code"] == code


def test_bearer_token_is_required(env):
    assert_error(get(env, "/health", headers={}), 401, "unauthorized")
    r = get(env, "/calls", headers={"Authorization": "Bearer wrong-token-0123456789"})
    assert_error(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert_error(get(env, "/calls", headers={"Authorization": TOKEN}), 401, "unauthorized")
    assert get(env, "/calls").status_code == 200
    assert requests.get(env.url + "/openapi.json").status_code == 200  # public


def test_without_a_token_only_a_loopback_binding_is_open(env):
    env.ctx.settings.http = HttpSettings(host="127.0.0.1")
    assert get(env, "/calls", headers={}).status_code == 200
    env.ctx.settings.http = HttpSettings(host="0.0.0.0")
    assert_error(get(env, "/calls", headers={}), 403, "status_api_disabled")
    assert_error(get(env, "/calls", headers=AUTH), 403, "status_api_disabled")


def test_health_reports_freeswitch_database_writer_backlog_and_versions(env):
    env.sim.pbx.register_all()  # events carry FreeSWITCH's Core-UUID
    wait_until(lambda: env.esl.status().core_uuid, timeout=30, what="Core-UUID seen")
    h = get(env, "/health").json()
    assert h["status"] == "ok" and h["database"] == {"ok": True, "error": ""}
    fs = h["freeswitch"]
    assert fs["connected"] and fs["core_uuid"] == env.esl.status().core_uuid and fs["reconnects"] == 0
    assert fs["version"].startswith("1.10.12") and h["versions"]["freeswitch"] == fs["version"]
    assert h["versions"]["connector"] and h["versions"]["python"].count(".") == 2
    assert h["writer"]["running"] and h["writer"]["last_error"] == ""
    assert h["delivery"]["backlog"] == 5 and h["delivery"]["counts"]["pending"] == 5
    assert h["delivery"]["engine"]["running"] and h["delivery"]["endpoints_down"] == 0


def test_health_degrades_when_freeswitch_goes_away(env):
    get(env, "/health")
    env.sim.server.stop()  # gone until started again: the client cannot reconnect before we look
    try:
        wait_until(lambda: not env.esl.connected, timeout=30, what="disconnected")
        h = get(env, "/health").json()
        assert h["status"] == "degraded" and not h["freeswitch"]["connected"]
    finally:
        env.sim.server.start()
    wait_until(lambda: env.esl.connected, timeout=30, what="reconnected")
    assert get(env, "/health").json()["freeswitch"]["reconnects"] >= 1


def test_extensions_show_presence_and_current_call(env):
    exts = {e["extension"]: e for e in get(env, "/extensions").json()["extensions"]}
    assert exts["101"]["state"] == "idle" and exts["101"]["registered"]
    assert exts["101"]["contact"] == "sip:101@10.0.0.5:5060" and exts["101"]["user_agent"] == "Zoiper"
    assert exts["102"]["state"] == "ringing" and exts["102"]["callid"] == "c3"
    assert not exts["103"]["registered"]
    ringing = get(env, "/extensions", params={"state": "ringing"}).json()["extensions"]
    assert [e["extension"] for e in ringing] == ["102"]
    assert get(env, "/extensions", params={"domain": "other"}).json()["extensions"] == []


def test_calls_filter_and_page(env):
    ids = lambda r: [c["callid"] for c in r.json()["calls"]]  # noqa: E731
    assert ids(get(env, "/calls")) == ["c3", "c2", "c1"]
    assert ids(get(env, "/calls", params={"active": "true"})) == ["c3"]
    assert ids(get(env, "/calls", params={"active": "false"})) == ["c2", "c1"]
    assert ids(get(env, "/calls", params={"extension": "101"})) == ["c2", "c1"]
    first = get(env, "/calls", params={"limit": 2}).json()
    assert [c["callid"] for c in first["calls"]] == ["c3", "c2"] and first["next_before"] == 2000.0
    rest = get(env, "/calls", params={"limit": 2, "before": first["next_before"]}).json()
    assert [c["callid"] for c in rest["calls"]] == ["c1"] and rest["next_before"] is None
    assert "recording_url" not in first["calls"][0]  # recordings not served in this setup
    for bad in ({"limit": "0"}, {"limit": "x"}, {"limit": "501"}, {"before": "soon"}, {"active": "maybe"}):
        assert_error(get(env, "/calls", params=bad), 400, "invalid_parameter")


def test_text_from_sip_is_shown_escaped_even_in_rows_stored_raw(env):
    """The tracker stores SIP text escaped; a row written before it did (or by
    another writer) still reaches no client with a control character (a terminal
    escape here; NUL never reaches the table: the writer drops it)."""
    raw = CallRecord("c-raw", "inbound", "ended", phone="0904\nvariable_dialed_user: 999\x1b[2J",
                     userfield="a\rb", started_at=500.0, ended_at=530.0)
    env.ctx.writer.submit(Changes(calls=[raw], extensions=[
        ExtensionRecord("104", "d1", IDLE, contact="sip:104@x", user_agent="Evil\nX-Injected: 1")]))
    assert env.ctx.writer.flush()
    shown = get(env, "/calls/c-raw").json()["call"]
    assert shown["phone"] == "0904\\nvariable_dialed_user: 999\\x1b[2J" and shown["userfield"] == "a\\rb"
    ext = next(e for e in get(env, "/extensions").json()["extensions"] if e["extension"] == "104")
    assert ext["user_agent"] == "Evil\\nX-Injected: 1"


def test_a_calls_timeline_has_its_events_and_every_attempt(env):
    finish(env.db, 1, "delivered", "acme", 200, 1500.0)
    finish(env.db, 2, "retrying", "acme", 503, 1600.0)
    body = get(env, "/calls/c1").json()
    assert body["call"]["callid"] == "c1" and body["call"]["status"] == "ANSWERED"
    assert [(e["event_type"], e["status"]) for e in body["events"]] == [
        (INCOMING_CALL, "delivered"), (CALL_LOG, "retrying")]
    attempt = body["events"][1]["attempts"][0]
    assert attempt["status_code"] == 503 and attempt["url"] == "https://crm/x?secret=***"
    assert_error(get(env, "/calls/nope"), 404, "call_not_found")


def test_deliveries_list_show_and_page(env):
    finish(env.db, 3, "dead", "beta", 404, 1700.0)
    ids = lambda r: [d["id"] for d in r.json()["deliveries"]]  # noqa: E731
    assert ids(get(env, "/deliveries")) == [5, 4, 3, 2, 1]
    assert ids(get(env, "/deliveries", params={"status": "dead"})) == [3]
    assert ids(get(env, "/deliveries", params={"customer": "beta"})) == [3]
    assert ids(get(env, "/deliveries", params={"callid": "c1"})) == [2, 1]
    page = get(env, "/deliveries", params={"limit": 2}).json()
    assert ids(get(env, "/deliveries", params={"limit": 2, "before": page["next_before"]})) == [3, 2]
    assert_error(get(env, "/deliveries", params={"status": "lost"}), 400, "invalid_parameter")
    shown = get(env, "/deliveries/3").json()["delivery"]
    assert shown["status"] == "dead" and shown["attempts"][0]["status_code"] == 404
    by_event_id = get(env, f"/deliveries/{shown['event_id']}").json()["delivery"]
    assert by_event_id["id"] == 3
    assert_error(get(env, "/deliveries/999"), 404, "delivery_not_found")


def test_retry_replays_a_dead_delivery_and_wakes_the_engine(env):
    finish(env.db, 3, "dead", "beta", 404, 1700.0)
    r = requests.post(f"{env.url}/deliveries/3/retry", headers=AUTH)
    assert r.status_code == 200 and r.json()["status"] == "success"
    row = r.json()["delivery"]
    assert (row["status"], row["attempts"], row["replayed_at"]) == ("pending", 0, env.clock.now)
    assert env.ctx.delivery.woken == 1
    assert_error(requests.post(f"{env.url}/deliveries/999/retry", headers=AUTH), 404, "delivery_not_found")
    assert_error(requests.get(f"{env.url}/deliveries/3/retry", headers=AUTH), 405, "method_not_allowed")
    assert_error(requests.post(f"{env.url}/deliveries/3/retry"), 401, "unauthorized")


def test_per_customer_statistics(env):
    created = get(env, "/deliveries/1").json()["delivery"]["created_at"]
    finish(env.db, 1, "delivered", "acme", 200, created + 5)
    finish(env.db, 3, "dead", "beta", 404, created + 6)
    env.clock.now = created + 100
    stats = {s["customer"]: s for s in get(env, "/deliveries/stats").json()["customers"]}
    assert list(stats) == ["acme", "beta", ""]
    acme, beta, nobody = stats["acme"], stats["beta"], stats[""]
    # row 2 (call log of c1, extension 101) is not planned yet: counted for acme, who owns 101
    assert acme["counts"]["delivered"] == 1 and acme["counts"]["pending"] == 1 and acme["backlog"] == 1
    assert acme["last_delivered_at"] == created + 5
    assert acme["oldest_pending_age_s"] == pytest.approx(100, abs=1)
    assert beta["counts"]["dead"] == 1 and beta["counts"]["pending"] == 1 and beta["backlog"] == 1
    assert beta["last_delivered_at"] is None
    assert nobody["counts"]["pending"] == 1  # extension 999 belongs to nobody


def test_endpoint_health_with_each_customers_backlog(env):
    assert get(env, "/deliveries/health").json()["endpoints"] == []  # nothing sent yet
    down = {"customer": "acme", "endpoint": "https://crm.acme.vn:443", "state": "failing", "since": 1000.0,
            "consecutive_failures": 7, "next_probe_in_s": 4.5, "failed_probes": 2,
            "last_error": "connection error: [Errno 111] Connection refused"}
    up = {**down, "customer": "beta", "endpoint": "https://crm.beta.vn:443", "state": "healthy",
          "consecutive_failures": 0, "next_probe_in_s": None, "failed_probes": 0, "last_error": ""}
    env.ctx.delivery.status = lambda: {"running": True, "endpoints": [down, up]}
    created = get(env, "/deliveries/1").json()["delivery"]["created_at"]
    env.clock.now = created + 30
    shown = get(env, "/deliveries/health").json()
    assert shown["generated_at"] == env.clock.now
    acme, beta = shown["endpoints"]
    assert acme == {**down, "backlog": 2, "oldest_pending_at": created, "oldest_pending_age_s": pytest.approx(30, abs=1)}
    assert (beta["state"], beta["backlog"]) == ("healthy", 2)
    assert_error(requests.get(env.url + "/deliveries/health"), 401, "unauthorized")
    assert get(env, "/health").json()["delivery"]["endpoints_down"] == 1


def test_the_openapi_document_is_served_valid_and_covers_every_route(env):
    served = requests.get(env.url + "/openapi.json")
    assert served.headers["Content-Type"] == "application/json"
    document = json.loads(OPENAPI.read_text(encoding="utf-8"))
    assert served.json() == document
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(document)
    from esl_connector.api import admin_reload, cdr, click2call, metrics
    for route in (status_api.routes() + recordings.routes() + click2call.routes() + cdr.routes()
                  + metrics.routes() + admin_reload.routes()):
        path = route.path.replace("<", "{").replace(">", "}")
        assert path in document["paths"], path
        for method in route.methods:
            assert method.lower() in document["paths"][path], (method, path)


def test_calls_carry_a_working_recording_link_when_recordings_are_served(env, tmp_path):
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec/a.wav").write_bytes(b"RIFF0000WAVE")
    recs = recordings.Recordings(str(tmp_path / "rec"), b"k" * 32, 3600, env.url.rsplit("/api/v1", 1)[0],
                                 freeswitch_directory="/rec")
    env.ctx.extras["recordings"] = recs
    env.clock.now = time.time()
    url = get(env, "/calls/c1").json()["call"]["recording_url"]
    assert url.startswith(recs.public_url + "/recordings/")
    r = requests.get(url)
    assert r.status_code == 200 and r.content == b"RIFF0000WAVE"


def test_health_tells_freeswitchs_hostname_and_events_per_second(env):
    get(env, "/health")
    before = env.esl.status().events_received
    env.sim.pbx.register_all()
    wait_until(lambda: env.esl.status().events_received >= before + 2, timeout=30, what="events")
    env.clock.advance(10)
    fs = get(env, "/health").json()["freeswitch"]
    assert fs["hostname"] == env.sim.pbx.hostname
    assert fs["events_per_second"] >= 0.2


def test_event_rate_over_a_sliding_window():
    rate = EventRate(window=60)
    assert rate.sample(100.0, 5) is None
    assert rate.sample(110.0, 25) == 2.0
    assert rate.sample(200.0, 85) == 0.667  # from 110, the newest reading a window or more ago
    assert rate.sample(300.0, 85) == 0.0
    assert rate.sample(301.0, 3) is None  # the counter restarted (a new process)
    since_start = EventRate(window=60, origin=(50.0, 0))
    assert since_start.sample(100.0, 25) == 0.5  # the first request: the average since the start
    assert since_start.sample(140.0, 65) == 0.722  # 50 -> 140: the origin is the newest reading a window ago
    assert since_start.sample(200.0, 125) == 1.0  # 140 -> 200


def test_metrics_per_minute_calls_attempts_failures_and_latency(env):
    now = env.clock.now = 1_800_000_030.0  # 30 s into a minute
    env.ctx.writer.submit(Changes(calls=[call("m1", now - 20), call("m2", now - 25), call("m3", now - 70),
                                         call("old", now - 3600), call("ahead", now + 150)]))
    assert env.ctx.writer.flush()
    finish(env.db, 1, "delivered", "acme", 200, now - 10)
    finish(env.db, 2, "retrying", "acme", 503, now - 65)
    m = get(env, "/metrics", params={"minutes": 5}).json()
    assert (m["minutes"], m["bucket_s"], m["start"]) == (5, 60, 1_800_000_000.0 - 240)
    assert m["calls_per_minute"] == [0, 0, 0, 1, 3]  # FreeSWITCH's clock ahead: counted now
    assert m["attempts_per_minute"] == [0, 0, 0, 1, 1] and m["failures_per_minute"] == [0, 0, 0, 1, 0]
    assert m["latency_avg_ms"] == [None, None, None, 12.5, 12.5] and m["latency_max_ms"][-1] == 12.5
    assert "events_per_second" in m
    assert len(get(env, "/metrics").json()["calls_per_minute"]) == 30
    for bad in ({"minutes": "0"}, {"minutes": "181"}, {"minutes": "x"}):
        assert_error(get(env, "/metrics", params=bad), 400, "invalid_parameter")


def test_endpoint_statistics(env):
    now = env.clock.now
    finish(env.db, 1, "delivered", "acme", 200, now - 30)
    finish(env.db, 2, "retrying", "acme", 503, now - 20)
    finish(env.db, 3, "dead", "beta", 404, now - 7200)  # outside the default hour
    env.ctx.delivery.busy_endpoints = {"https://crm:443": 1, "http://idle.example:8080": 2}
    body = get(env, "/deliveries/endpoints").json()
    assert body["window_s"] == 3600
    idle, crm = body["endpoints"]  # by endpoint
    assert (crm["endpoint"], crm["customers"], crm["requests"], crm["succeeded"], crm["failed"]) == (
        "https://crm:443", ["acme"], 2, 1, 1)
    assert crm["error_rate"] == 0.5 and crm["latency_avg_ms"] == 12.5 and crm["latency_p95_ms"] == 12.5
    assert (crm["last_status_code"], crm["last_error"], crm["in_flight"]) == (503, "", 1)
    assert (idle["endpoint"], idle["requests"], idle["in_flight"]) == ("http://idle.example:8080", 0, 2)
    wide = get(env, "/deliveries/endpoints", params={"minutes": 1440}).json()["endpoints"][1]
    assert wide["requests"] == 3 and wide["customers"] == ["acme", "beta"]


def test_retry_every_dead_letter_of_a_customer(env):
    finish(env.db, 3, "dead", "beta", 404, 1700.0)
    finish(env.db, 1, "dead", "acme", 404, 1700.0)
    url = f"{env.url}/customers/beta/retry-dead"
    r = requests.post(url, headers=AUTH)
    assert r.status_code == 200 and r.json() == {"status": "success", "customer": "beta", "retried": 1}
    assert get(env, "/deliveries/3").json()["delivery"]["status"] == "pending"
    assert get(env, "/deliveries/1").json()["delivery"]["status"] == "dead"  # acme's stays dead
    assert env.ctx.delivery.woken == 1
    assert requests.post(url, headers=AUTH).json()["retried"] == 0
    assert_error(requests.post(f"{env.url}/customers/nobody/retry-dead", headers=AUTH), 404, "customer_not_found")
    assert_error(requests.post(url), 401, "unauthorized")
    assert_error(requests.get(url, headers=AUTH), 405, "method_not_allowed")
