"""CDRs into a real connector: mod_json_cdr's POSTs through the real HTTP
server (real requests), its files read at start and periodically, each CDR
stored once, and calls the connector never saw end get exactly one call log.
What is stored across restarts, on SQLite and PostgreSQL."""

import json
import os
import shutil
from pathlib import Path

import pytest
import requests

from esl_connector.simulator import Simulator
from esl_connector.simulator.cdr import CdrFiles, CdrPoster, cdr_document
from storage import cdr_store, queries

from connector_harness import outbox, start_connector, wait_outbox
from esl_fake_server import wait_until
from recordings import FIXTURES

PASSWORD = "cdr-secret-for-tests"
CALLID = "b3f67b56-d007-46ac-9dd4-8f72c46cfc67"
CUSTOMER = "dc87ddd2-67f9-4655-80db-76c5a67a3710"
CLICK_TO_CALL_LOG = {
    "callid": CALLID, "calldate": "2026-11-25 21:13:13", "extension": "101", "phone": "0904824242",
    "duration": 6, "billsec": 3, "status": "ANSWERED", "recording": "", "userfield": "ORDER-123",
}


def fixture_text(leg: str) -> str:
    return (Path(FIXTURES) / f"json_cdr.click_to_call.{leg}_leg.json").read_text()


@pytest.fixture
def sim():
    simulator = Simulator(speed=40.0, extensions=["101", "102", "103"]).start()
    yield simulator
    simulator.stop()


def cdr_connector(sim, backend, **cdr):
    host, port = sim.address
    # retention 0: the fixture CDRs ended on 2026-11-25 and must stay acceptable
    # whatever today's date (cdr.retention is tested in test_cdr_retention.py)
    settings = {"http": True, "password": PASSWORD, "complete_after": 0.5, "retention": 0, **cdr}
    return start_connector(backend.url, host, port, cdr=settings)


@pytest.fixture
def connector(sim, sqlite_database):
    """For the HTTP side's checks; what is stored across restarts runs on both backends."""
    made = cdr_connector(sim, sqlite_database)
    yield made
    made.stop()


def post(connector, body, content_type="application/json", auth=("freeswitch", PASSWORD), uuid=None):
    return requests.post(connector.http.url + "/api/v1/cdr", data=body, auth=auth, timeout=5,
                         params={"uuid": uuid} if uuid else None, headers={"Content-Type": content_type})


def stored_legs(connector):
    return cdr_store.leg_states(connector.db)


def test_the_fixture_cdrs_posted_give_one_call_log_and_a_repeat_is_a_duplicate(connector):
    for leg, uuid in (("customer", CUSTOMER), ("agent", CALLID)):
        reply = post(connector, fixture_text(leg), uuid=uuid)
        assert reply.status_code == 200 and reply.json() == {"status": "ok", "result": "accepted"}
    assert wait_outbox(connector, 1) == [("call_answered", CLICK_TO_CALL_LOG)]
    assert stored_legs(connector) == {CALLID: "done", CUSTOMER: "done"}
    again = post(connector, fixture_text("agent"))
    assert again.status_code == 200 and again.json()["result"] == "duplicate"
    connector.writer.flush()
    assert outbox(connector) == [("call_answered", CLICK_TO_CALL_LOG)]
    assert queries.get_call(connector.db, CALLID).billsec == 3
    health = requests.get(connector.http.url + "/api/v1/health", timeout=5).json()
    assert health["cdr"] == {"accepted": 2, "duplicates": 1, "rejected": 0, "expired": 0, "waiting_legs": 0}


@pytest.mark.parametrize("encode", ["true", "base64"])
def test_mod_json_cdrs_encodings_are_accepted(connector, encode):
    poster = CdrPoster("http://unused", encode=encode)
    for leg in ("agent", "customer"):
        content_type, body = poster.encoded(json.loads(fixture_text(leg)))
        assert post(connector, body.encode(), content_type).status_code == 200
    assert wait_outbox(connector, 1) == [("call_answered", CLICK_TO_CALL_LOG)]


@pytest.mark.parametrize("auth", [None, ("freeswitch", "wrong-password-123"), ("other", PASSWORD)])
def test_wrong_credentials_are_refused_and_nothing_is_stored(connector, auth):
    reply = post(connector, fixture_text("agent"), auth=auth)
    assert reply.status_code == 401 and reply.json()["code"] == "unauthorized"
    assert reply.headers["WWW-Authenticate"].startswith("Basic ")
    assert stored_legs(connector) == {}


def _doc(**variables):
    doc = json.loads(fixture_text("agent"))
    doc["variables"].update(variables)
    return json.dumps(doc)


@pytest.mark.parametrize("body,content_type,status,code", [
    ("{not json", "application/json", 400, "invalid_cdr"),
    ("[1, 2]", "application/json", 400, "invalid_cdr"),
    ("[" * 100_000 + "]" * 100_000, "application/json", 400, "invalid_cdr"),
    (_doc(billsec=4), "application/json", 400, "invalid_cdr"),
    (_doc(uuid="../../../etc/passwd"), "application/json", 400, "invalid_cdr"),
    (_doc(end_uepoch="1e9"), "application/json", 400, "invalid_cdr"),
    (b"\xff\xfe{}", "application/json", 400, "invalid_cdr"),
    ("nocdr=1", "application/x-www-form-urlencoded", 400, "invalid_cdr"),
    ("cdr=!!!notbase64", "application/x-www-form-base64-encoded", 400, "invalid_cdr"),
    ("<cdr/>", "text/xml", 415, "unsupported_media_type"),
    ("{" + " " * (1024 * 1024) + "}", "application/json", 413, "request_too_large"),
])
def test_malformed_and_hostile_bodies_get_a_clear_4xx_and_store_nothing(connector, body, content_type, status, code):
    reply = post(connector, body, content_type)
    assert reply.status_code == status and reply.json()["code"] == code, reply.text[:200]
    assert "passwd" not in reply.json()["message"] and len(reply.json()["message"]) < 300
    assert stored_legs(connector) == {}
    connector.writer.flush()
    assert outbox(connector) == []


def test_the_urls_uuid_must_be_the_cdrs(connector):
    reply = post(connector, fixture_text("agent"), uuid=CUSTOMER)
    assert reply.status_code == 400 and "uuid" in reply.json()["message"]
    assert stored_legs(connector) == {}


def test_http_cdrs_are_refused_when_not_enabled(sim, tmp_path):
    host, port = sim.address
    made = start_connector(tmp_path / "c.db", host, port)
    try:
        reply = post(made, fixture_text("agent"))
        assert reply.status_code == 403 and reply.json()["code"] == "cdr_http_disabled"
    finally:
        made.stop()


def test_a_lone_leg_of_an_unknown_call_is_closed_after_complete_after(connector):
    assert post(connector, fixture_text("agent")).status_code == 200
    rows = wait_outbox(connector, 1, timeout=5)
    assert rows[0][0] == "call_answered" and rows[0][1]["callid"] == CALLID
    assert rows[0][1]["status"] == "FAILED"  # the customer leg never came: the agent's view only
    assert stored_legs(connector) == {CALLID: "done"}


def test_cdr_files_are_read_once_across_a_restart(sim, backend, tmp_path):
    directory = tmp_path / "json_cdr"
    directory.mkdir()
    rotated = directory / "2026-11-25-21-00-00"  # rotate=true: dated sub-directories
    rotated.mkdir()
    (directory / f"a_{CALLID}.cdr.json").write_text(fixture_text("agent"))  # prefix-a-leg=true
    (rotated / f"{CUSTOMER}.cdr.json").write_text(fixture_text("customer"))
    (directory / "broken.cdr.json").write_text("{")
    os.utime(directory / "broken.cdr.json", (1, 1))  # old: not being written any more
    first = cdr_connector(sim, backend, directories=[str(directory)], http=False)
    try:
        assert wait_outbox(first, 1) == [("call_answered", CLICK_TO_CALL_LOG)]
    finally:
        first.stop()
    second = cdr_connector(sim, backend, directories=[str(directory)], http=False, scan_interval=0.05)
    try:
        wait_until(lambda: second.cdr_scanner.scans >= 3, what="three scans")
        second.writer.flush()
        assert outbox(second) == [("call_answered", CLICK_TO_CALL_LOG)]
        assert sorted(os.listdir(directory)) == sorted(["a_" + CALLID + ".cdr.json", rotated.name,
                                                        "broken.cdr.json"])  # never deleted
        assert os.listdir(rotated) == [CUSTOMER + ".cdr.json"]
    finally:
        second.stop()


def test_processed_files_are_deleted_when_configured(sim, backend, tmp_path):
    directory = tmp_path / "json_cdr"
    directory.mkdir()
    (directory / f"{CALLID}.cdr.json").write_text(fixture_text("agent"))
    made = cdr_connector(sim, backend, directories=[str(directory)], delete_processed=True)
    try:
        assert stored_legs(made) == {CALLID: "pending"}
        assert os.listdir(directory) == []
    finally:
        made.stop()


def _ringing_call(sim, talk_time):
    sim.pbx.configure("101", answer_after=1.0, talk_time=talk_time)
    sim.pbx.register("101")
    return sim.pbx.inbound_call(caller="0904824242", did="19001234", ring=["101"])


def test_a_call_seen_by_both_sources_is_reported_once(sim, connector):
    poster = CdrPoster(connector.http.url + "/api/v1/cdr", "freeswitch", PASSWORD)
    sim.pbx.add_cdr_output(poster)
    call = _ringing_call(sim, talk_time=3.0)
    assert call.wait(10)
    wait_until(lambda: poster.sent == 2, what="both CDRs posted")
    rows = wait_outbox(connector, 2)
    wait_until(lambda: set(stored_legs(connector).values()) == {"done"}, what="legs done")
    connector.writer.flush()
    assert [kind for kind, _ in outbox(connector)] == ["incoming_call", "call_answered"]
    assert rows[1][1]["billsec"] == 3


def test_a_call_that_ends_while_the_connector_is_down_gets_its_call_log_from_its_cdrs(sim, backend, tmp_path):
    err_dir = tmp_path / "json_cdr_err"
    err_dir.mkdir()
    first = cdr_connector(sim, backend, directories=[str(err_dir)])
    sim.pbx.add_cdr_output(CdrPoster(first.http.url + "/api/v1/cdr", "freeswitch", PASSWORD,
                                     encode="true", err_dir=str(err_dir)))
    call = _ringing_call(sim, talk_time=60.0)  # 1.5 s real: it ends after the connector stopped
    try:
        assert [kind for kind, _ in wait_outbox(first, 1)] == ["incoming_call"]
        wait_until(lambda: call.legs.get("agent:101") is not None and call.legs["agent:101"].answered,
                   what="answer")
    finally:
        first.stop()  # the connector is down when the call ends: the POSTs fail, FreeSWITCH keeps the files
    assert call.wait(10)
    wait_until(lambda: len(os.listdir(err_dir)) == 2, what="two CDR files in err-log-dir")
    second = cdr_connector(sim, backend, directories=[str(err_dir)])
    try:
        rows = wait_outbox(second, 2)
        assert [kind for kind, _ in rows] == ["incoming_call", "call_answered"]
        log = rows[1][1]
        assert (log["callid"], log["status"], log["billsec"], log["extension"]) == (
            call.uuids["did"], "ANSWERED", 60, "101")
        second.writer.flush()
        assert len(outbox(second)) == 2
        assert queries.get_call(second.db, log["callid"]).state == "ended"
    finally:
        second.stop()
    shutil.rmtree(err_dir)


def test_a_leg_waiting_for_its_call_survives_a_restart(sim, backend, tmp_path):
    first = cdr_connector(sim, backend, complete_after=600.0)
    try:
        assert post(first, fixture_text("customer")).json()["result"] == "accepted"
        assert stored_legs(first) == {CUSTOMER: "pending"}
    finally:
        first.stop()
    second = cdr_connector(sim, backend, complete_after=600.0)
    try:
        assert second.tracker.cdrs.waiting() == 1  # given back to the tracker at start
        assert post(second, fixture_text("agent")).json()["result"] == "accepted"
        assert wait_outbox(second, 1) == [("call_answered", CLICK_TO_CALL_LOG)]
        assert stored_legs(second) == {CALLID: "done", CUSTOMER: "done"}
    finally:
        second.stop()


def test_cdrs_correct_a_call_closed_by_a_guess_without_a_second_call_log(sim, backend, tmp_path):
    directory = tmp_path / "json_cdr"
    directory.mkdir()
    connector = cdr_connector(sim, backend, directories=[str(directory)], scan_interval=0.05)
    try:
        call = _ringing_call(sim, talk_time=60.0)
        wait_outbox(connector, 1)
        wait_until(lambda: call.legs.get("agent:101") is not None and call.legs["agent:101"].answered,
                   what="answer")
        sim.server.stop()  # FreeSWITCH unreachable: the hangup is never seen
        call.kill("NORMAL_CLEARING")
        assert call.wait(10)
        # Back again: the resync closes the call with a guess (FreeSWITCH's
        # clock now, an upper bound) before its CDRs are there.
        sim.server.start()
        rows = wait_outbox(connector, 2, timeout=15)
        callid = rows[1][1]["callid"]
        wait_until(lambda: queries.get_call(connector.db, callid).hangup_cause == "CONNECTOR_LOST_TRACK",
                   what="closed as lost")
        guessed = queries.get_call(connector.db, callid)
        files = CdrFiles(str(directory))
        for leg in call.legs.values():
            files(cdr_document(leg, sim.pbx.core_uuid, "sim"), leg.other_type == "originator")
        wait_until(lambda: queries.get_call(connector.db, callid).hangup_cause == "NORMAL_CLEARING",
                   what="corrected from the CDRs")
        exact = queries.get_call(connector.db, callid)
        answered = call.legs["agent:101"]
        assert exact.billsec == answered.hungup // 1_000_000 - answered.answered // 1_000_000
        assert exact.duration <= guessed.duration and exact.status == "ANSWERED"
        connector.writer.flush()
        assert [kind for kind, _ in outbox(connector)] == ["incoming_call", "call_answered"]
    finally:
        connector.stop()
