"""End to end: a simulated FreeSWITCH call becomes the contract's exact HTTP
requests at a CRM (real TCP, real SQLite and PostgreSQL, real HTTP)."""

import json
import time
from collections import Counter

import gevent
import pytest
import requests

from esl_connector.app import Connector
from esl_connector.crm_receiver import CrmReceiver
from esl_connector.records import CALL_LOG
from esl_connector.simulator import Simulator, run_scenario, run_traffic
from storage import queries

from connector_harness import connector_settings
from delivery_fixtures import ScriptedCrm
from esl_fake_server import wait_until


@pytest.fixture
def world(backend):
    crm = CrmReceiver().start()
    sim = Simulator(speed=40, extensions=["101", "102"]).start()
    settings = connector_settings(backend.url, *sim.address)
    settings.customers = [{"code": "acme", "domain_crm": crm.url, "secret": "s3cr3t", "extensions": "101-102"}]
    connector = Connector(settings).start()
    wait_until(lambda: connector.resyncs, what="connected and resynced")  # events before that are not seen
    yield sim, crm, connector
    connector.stop()
    sim.stop()
    crm.stop()


def test_inbound_call_reaches_the_crm_exactly_as_the_guide_says(world):
    sim, crm, connector = world
    assert run_scenario(sim.pbx, "inbound_answered").wait(30)
    wait_until(lambda: len(crm.requests) >= 2, timeout=30, what="two webhooks")
    ring, log = crm.requests[:2]
    callid = ring.query["callid"]
    assert (ring.method, ring.path) == ("GET", "/wsapi/acme/incoming_call")
    assert ring.query_string == f"secret=s3cr3t&phone=0904824242&extension=101&callid={callid}"
    assert (log.method, log.path, log.query_string) == ("POST", "/wsapi/acme/call_answered", "secret=s3cr3t")
    assert log.headers["Content-Type"] == "application/json"
    body = json.loads(log.body)
    assert list(body) == ["callid", "calldate", "extension", "phone", "duration", "billsec",
                          "status", "recording", "userfield"]
    assert body["callid"] == callid and body["status"] == "ANSWERED" and body["billsec"] == 3
    assert isinstance(body["duration"], int) and body["recording"] == "" and body["userfield"] == ""
    assert ring.headers["X-Event-Id"] != log.headers["X-Event-Id"]
    assert ring.headers["User-Agent"].startswith("esl-connector/")


def test_a_crm_failing_the_first_attempt_still_gets_events_in_order(world):
    sim, crm, connector = world
    crm.fail_next(1, 503)
    assert run_scenario(sim.pbx, "outbound_from_extension").wait(30)
    wait_until(lambda: len([r for r in crm.requests if r.headers.get("X-Event-Id")]) >= 3,
               timeout=30, what="a retry and the call log")
    kinds = [r.event_type for r in crm.requests]
    assert kinds == ["outgoing_call", "outgoing_call", "call_answered"]
    assert crm.requests[0].headers["X-Event-Id"] == crm.requests[1].headers["X-Event-Id"]


def test_a_recorded_call_log_carries_a_link_the_crm_can_fetch(backend, tmp_path):
    """recording scenario: FreeSWITCH records to /srv/pbx/fs/recordings/<uuid>.wav,
    mounted here as recordings.directory; the CRM gets a signed link, not the path."""
    crm = CrmReceiver().start()
    sim = Simulator(speed=40, extensions=["102"]).start()
    recordings_dir = tmp_path / "recordings"
    recordings_dir.mkdir()
    settings = connector_settings(backend.url, *sim.address)
    settings.customers = [{"code": "acme", "domain_crm": crm.url, "secret": "s3cr3t", "extensions": "102"}]
    settings.recordings.directory = str(recordings_dir)
    settings.recordings.freeswitch_directory = "/srv/pbx/fs/recordings"
    settings.recordings.signing_key = "k" * 32
    # The links' base is set on the engine's Recordings once port 0 is bound: the
    # engine must run in this process ("separate" builds its own from the settings).
    settings.delivery.process = "inline"
    connector = Connector(settings)
    connector.start()
    connector.recordings.public_url = connector.http.url  # port 0: known once bound
    wait_until(lambda: connector.resyncs, what="connected and resynced")  # events before that are not seen
    try:
        run = run_scenario(sim.pbx, "recording")
        assert run.wait(30)
        callid = run.result["caller"]
        (recordings_dir / f"{callid}.wav").write_bytes(b"RIFF" + bytes(range(256)) * 40)
        wait_until(lambda: crm.of_type("call_answered"), timeout=30, what="the call log")
        link = json.loads(crm.of_type("call_answered")[0].body)["recording"]
        assert link.startswith(connector.http.url + "/recordings/") and "/srv/" not in link
        part = requests.get(link, headers={"Range": "bytes=4-9"}, timeout=5)
        assert part.status_code == 206 and part.content == bytes(range(6))
        assert part.headers["Content-Type"].startswith("audio/wav")
    finally:
        connector.stop()
        sim.stop()
        crm.stop()


def test_a_crm_down_under_simulator_traffic_gets_everything_once_in_order_when_back(backend, tmp_path):
    extensions = [str(n) for n in range(101, 111)]
    crm = ScriptedCrm().start()
    port = crm.port
    sim = Simulator(speed=40, extensions=extensions).start()
    settings = connector_settings(backend.url, *sim.address, delivery={
        "poll_interval": 0.05, "failure_threshold": 2, "probe_interval": 0.05, "probe_max_interval": 0.2})
    settings.customers = [{"code": "acme", "domain_crm": crm.url, "secret": "s3cr3t", "extensions": "101-110"}]
    connector = Connector(settings).start()
    back = None
    try:
        wait_until(lambda: connector.resyncs, what="connected and resynced")
        traffic = gevent.spawn(run_traffic, sim.pbx, 0.15, extensions, 160, 3)  # ~4 s of calls
        wait_until(lambda: len(crm.requests) >= 4, timeout=30, what="traffic delivered")
        crm.policy = lambda r: (503, {})  # going down: nothing answered 200 is cut off
        crm.stop()
        gevent.sleep(1.5)
        back = ScriptedCrm(port=port).start()
        returned = time.monotonic()
        traffic.join(timeout=30)
        wait_until(lambda: not queries.list_calls(connector.db, active=True), timeout=30, what="calls ended")
        connector.writer.flush()
        counts = lambda: {s: n for s, n in queries.outbox_counts(connector.db).items() if n}  # noqa: E731
        wait_until(lambda: set(counts()) == {"delivered"}, timeout=30, what=f"every webhook delivered {counts()}")
        print(f"\nbacklog empty {time.monotonic() - returned:.2f} s after the CRM's return "
              f"(traffic went on meanwhile)")
        answered = [(r, status) for r, status in crm.answered + back.answered if status == 200]
        ids = Counter(r.headers["X-Event-Id"] for r, _ in answered)
        rows = queries.list_outbox(connector.db, limit=10000)
        assert len(rows) > 8 and set(ids) == {e.event_id for e in rows} and max(ids.values()) == 1
        seen = [(r.event_type, r.query.get("callid") or r.json()["callid"]) for r, _ in answered]
        for i, (kind, call) in enumerate(seen):
            if kind == CALL_LOG:
                assert all(k == CALL_LOG for k, c in seen[i:] if c == call)  # nothing of its call after it
    finally:
        connector.stop()
        sim.stop()
        crm.stop()
        if back is not None:
            back.stop()
