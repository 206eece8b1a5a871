"""The simulated PBX: registrations, values, api answers, originate, ring groups, traffic.

No TCP: events are collected from the ``emit`` callback (and round-tripped
through ``wire.encode_event`` + ``protocol.parse_event``). Shapes per leg are
in test_simulator_shapes.py.
"""

from __future__ import annotations

import json

import gevent
import pytest

from esl_connector.esl.protocol import Event, parse_event, parse_frames
from esl_connector.simulator import BUSY, NO_ANSWER, run_scenario, run_traffic, wire
from esl_connector.simulator.pbx import Pbx
from esl_connector.simulator.server import EventSocketServer

import recordings

SPEED = 400.0


class Collector(list):
    def __call__(self, headers, body=""):
        self.append(Event(dict(headers), body))

    def named(self, name, subclass=None):
        return [e for e in self if e.name == name and (subclass is None or e.subclass == subclass)]

    def leg(self, uuid):
        return [e for e in self if e.uuid == uuid]


@pytest.fixture
def events():
    return Collector()


@pytest.fixture
def pbx(events):
    p = Pbx(events, speed=SPEED)
    yield p
    p.stop()


def recorded(scenario, name, subclass=None):
    return [e for e in recordings.events(scenario, "plain")
            if e.name == name and (subclass is None or e.subclass == subclass)]


def hc(events, uuid):
    return next(e for e in events.leg(uuid) if e.name == "CHANNEL_HANGUP_COMPLETE")


# -- registration -------------------------------------------------------------
def test_register_unregister_matches_recording(pbx, events):
    run = run_scenario(pbx, "register_unregister")
    assert run.wait(5)
    ours = [(e.name, e.subclass) for e in events]
    theirs = [(e.name, e.subclass) for e in recordings.events("register_unregister", "plain")
              if e.name in ("CUSTOM", "PRESENCE_IN")]
    assert ours == theirs
    for sub in ("sofia::pre_register", "sofia::register_attempt", "sofia::register",
                "sofia::unregister"):
        for mine, real in zip(events.named("CUSTOM", sub), recorded("register_unregister", "CUSTOM", sub)):
            assert set(mine.headers) == set(real.headers), sub
    reg = events.named("CUSTOM", "sofia::register")[0]
    assert reg.get("contact").startswith('"" <sip:101-0x') and reg.get("expires") == "600"
    assert events.named("CUSTOM", "sofia::unregister")[0].get("expires") == "0"
    assert not pbx.extension("101").registered


def test_expire(pbx, events):
    pbx.register("102")
    pbx.expire("102")
    exp = events.named("CUSTOM", "sofia::expire")[0]
    assert exp.get("user") == "102" and exp.get("profile-name") == "internal"
    assert set(exp.headers) >= {"call-id", "host", "contact", "expires", "user-agent", "realm"}
    assert not pbx.extension("102").registered


def test_invite_digest_auth_noise_before_outbound_create(pbx, events):
    pbx.register("102")
    events.clear()
    pbx.outbound_call("102", "0911222333").wait(5)
    names = [(e.name, e.subclass) for e in events][:5]
    assert ("CUSTOM", "sofia::pre_register") in names
    pre = events.named("CUSTOM", "sofia::pre_register")[0]
    assert pre.get("from-user") == "0911222333" and pre.get("expires") == "300"
    real = recorded("outbound_from_extension", "CUSTOM", "sofia::register_attempt")[0]
    assert set(events.named("CUSTOM", "sofia::register_attempt")[0].headers) == set(real.headers)
    assert events.index(pre) < events.index(events.named("CHANNEL_CREATE")[0])


# -- values -------------------------------------------------------------------
def epoch(e, name):
    return int(e.var(name + "_epoch"))


def assert_times_consistent(e):
    assert int(e.var("duration")) == epoch(e, "end") - epoch(e, "start")
    if e.var("answer_stamp"):
        assert int(e.var("billsec")) == epoch(e, "end") - epoch(e, "answer")
        assert int(e.var("billmsec")) == (int(e.var("end_uepoch")) - int(e.var("answer_uepoch"))) // 1000
    else:
        assert e.var("billsec") == "0" and e.var("answer_epoch") == "0"
    assert int(e.var("start_uepoch")) == int(e.get("Caller-Channel-Created-Time"))


@pytest.mark.parametrize("scenario,agent_cause,did_cause,extra", [
    ("inbound_answered", "NORMAL_CLEARING", "NORMAL_CLEARING", {"DIALSTATUS": "SUCCESS"}),
    ("inbound_no_answer", "NO_ANSWER", "NORMAL_CLEARING",
     {"DIALSTATUS": "NOANSWER", "originate_disposition": "NO_ANSWER", "sip_hangup_disposition": "send_refuse"}),
    ("inbound_caller_cancel", "ORIGINATOR_CANCEL", "ORIGINATOR_CANCEL",
     {"sip_hangup_disposition": "recv_cancel", "sip_term_status": "487"}),
    ("inbound_busy", "USER_BUSY", "USER_BUSY", {"DIALSTATUS": "BUSY"}),
])
def test_inbound_causes_and_times(pbx, events, scenario, agent_cause, did_cause, extra):
    run = run_scenario(pbx, scenario)
    assert run.wait(10)
    uuids = run.result
    agent, did = hc(events, uuids["agent:101"]), hc(events, uuids["did"])
    assert agent.get("Hangup-Cause") == agent_cause and did.get("Hangup-Cause") == did_cause
    for name, value in extra.items():
        assert did.var(name) == value
    for e in (agent, did):
        assert_times_consistent(e)
    create = next(e for e in events.leg(uuids["agent:101"]) if e.name == "CHANNEL_CREATE")
    assert create.var("dialed_user") == "101" and create.var("presence_id") == "101@127.0.0.1"
    assert create.get("Caller-Destination-Number").startswith("101-0x")
    assert create.var("originator") == create.get("Other-Leg-Unique-ID") == uuids["did"]
    assert create.get("Channel-Call-UUID") == uuids["did"]
    assert create.get("Caller-Caller-ID-Number") == "0904824242"


def test_inbound_answered_billsec_and_noncausal_order(pbx, events):
    run = run_scenario(pbx, "inbound_answered")
    assert run.wait(10)
    agent, did = run.result["agent:101"], run.result["did"]
    assert hc(events, agent).var("billsec") == "3"
    assert hc(events, agent).var("sip_hangup_disposition") == "recv_bye"
    assert hc(events, did).var("sip_hangup_disposition") == "send_bye"
    unbridge = next(e for e in events.leg(did) if e.name == "CHANNEL_UNBRIDGE")
    assert events.index(hc(events, agent)) < events.index(unbridge)  # as recorded
    assert hc(events, did).var("duration") in ("5", "6")


def test_event_sequence_and_core_uuid(pbx, events):
    run_scenario(pbx, "outbound_from_extension").wait(5)
    seqs = [e.sequence for e in events]
    assert all(b > a for a, b in zip(seqs, seqs[1:]))
    assert {e.get("Core-UUID") for e in events} == {pbx.core_uuid}
    old = pbx.core_uuid
    pbx.restart()
    assert pbx.core_uuid != old


def test_recording_events(pbx, events):
    run = run_scenario(pbx, "recording")
    assert run.wait(10)
    uuid = run.result["caller"]
    starts = [e.get("Record-File-Path") for e in events.named("RECORD_START")]
    stops = [e for e in events.named("RECORD_STOP")]
    assert starts == [f"/srv/pbx/fs/recordings/{uuid}.wav", f"/srv/pbx/fs/recordings/{uuid}.api.wav"]
    assert [e.get("Record-File-Path") for e in stops] == starts
    first = events.named("RECORD_START")[0]
    assert first.get("Channel-Call-State") == "EARLY"  # dialplan recording starts before answer
    assert stops[0].var("record_ms") and stops[0].get("Record-Completion-Cause")
    assert hc(events, uuid).var("billsec") == "3"


# -- click to call -------------------------------------------------------------
def test_click_to_call(pbx, events):
    run = run_scenario(pbx, "click_to_call")
    assert run.wait(10)
    uuid = "8399d83b-ff16-47a1-b919-9de7bbec961a"
    assert run.result["reply"] == f"+OK {uuid}\n"
    agent = hc(events, uuid)
    assert agent.var("crm_userfield") == "ORDER-123" and agent.var("billsec") == "4"
    assert agent.var("sip_hangup_disposition") == "send_bye"
    gw = hc(events, run.result["gateway"])
    assert gw.get("Channel-Name") == "sofia/external/0904824242"
    assert gw.var("sip_hangup_disposition") == "recv_bye"


@pytest.mark.parametrize("behaviour,reply", [(BUSY, "-ERR USER_BUSY\n"), (NO_ANSWER, "-ERR NO_ANSWER\n")])
def test_originate_failures(pbx, events, behaviour, reply):
    pbx.register("101")
    pbx.configure("101", behaviour=behaviour, reject_after=1)
    assert pbx.api("originate", "{originate_timeout=5}user/101 &bridge(sofia/gateway/pstn/0904824242)") == reply
    assert pbx.calls[-1].wait(5)
    assert hc(events, pbx.calls[-1].legs["agent"].uuid).get("Hangup-Cause") == reply[5:-1]


def test_originate_unregistered_creates_no_channel(pbx, events):
    assert pbx.api("originate", "user/103 &park()") == "-ERR USER_NOT_REGISTERED\n"
    assert events == []


def test_background_job_shape(pbx, events):
    server = EventSocketServer(pbx)
    jobs = []
    server.publish = lambda headers, body="": jobs.append(Event(dict(headers), body))
    pbx.register("101")
    pbx.configure("101", answer_after=1)
    server._run_job("1e16516c-a755-4f8d-a450-33e1e6160b09", "originate",
                    "{origination_uuid=11111111-0000-0000-0000-000000000001}user/101 "
                    "&bridge(sofia/gateway/pstn/0904824242)")
    job = [e for e in jobs if e.name == "BACKGROUND_JOB"][0]
    real = recorded("click_to_call", "BACKGROUND_JOB")[0]
    assert set(job.headers) | {"Content-Length"} == set(real.headers)
    assert job.body == "+OK 11111111-0000-0000-0000-000000000001\n"
    pbx.calls[-1].wait(5)


# -- api ------------------------------------------------------------------------
def api_body(name_fragment):
    frames = parse_frames(recordings.raw("api_responses", "plain"))
    return [f.text for f in frames if f.content_type == "api/response" and name_fragment in f.text]


def test_api_texts(pbx):
    assert pbx.api("version") == "FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n"
    assert pbx.api("status").splitlines()[1] == "FreeSWITCH (Version 1.10.12-release  64bit) is ready"
    assert len(pbx.api("status").splitlines()) == len(api_body("is ready")[0].splitlines())
    assert pbx.api("show", "channels as json") == '{"row_count": 0}\n'
    assert pbx.api("nosuchcommand", "foo") == "-ERR nosuchcommand Command not found!\n"
    assert pbx.api("uuid_kill", "00000000-0000-0000-0000-000000000000") == "-ERR No such channel!\n"
    assert pbx.api("show", "channels count") == "\n0 total.\n"


def test_api_show_rows_match_recording(pbx):
    pbx.register("101")
    pbx.register("102")
    regs = json.loads(pbx.api("show", "registrations as json"))
    real_regs = json.loads(api_body('"reg_user"')[0])
    assert regs["row_count"] == 2 and set(regs["rows"][0]) == set(real_regs["rows"][0])
    pbx.configure("101", behaviour=NO_ANSWER)
    call = pbx.inbound_call(caller="0904824242", ring=["101"])
    while "agent:101" not in call.legs or not call.legs["agent:101"].progress:
        gevent.sleep(0.001)
    channels = json.loads(pbx.api("show", "channels as json"))
    real = json.loads([b for b in api_body('"row_count":3') if '"b_uuid"' not in b][0])
    assert channels["row_count"] == 2
    assert list(channels["rows"][0]) == list(real["rows"][0])
    calls = json.loads(pbx.api("show", "calls as json"))
    real_calls = json.loads([b for b in api_body('"b_uuid"')][0])
    assert list(calls["rows"][0]) == list(real_calls["rows"][0])
    assert pbx.api("uuid_getvar", f"{call.legs['did'].uuid} sip_from_user") == "0904824242"
    assert pbx.api("uuid_kill", f"{call.legs['did'].uuid} NORMAL_CLEARING") == "+OK\n"
    assert call.wait(5)
    assert pbx.api("show", "channels as json") == '{"row_count": 0}\n'


# -- more flows ------------------------------------------------------------------
def test_ring_group_losers_lose_race(pbx, events):
    run = run_scenario(pbx, "ring_group")
    assert run.wait(10)
    causes = {n: hc(events, run.result[f"agent:{n}"]).get("Hangup-Cause") for n in ("101", "102", "103")}
    assert causes == {"101": "LOSE_RACE", "102": "NORMAL_CLEARING", "103": "LOSE_RACE"}
    assert hc(events, run.result["agent:102"]).var("billsec") == "3"


def test_internal_call(pbx, events):
    pbx.register("101")
    pbx.register("102")
    pbx.configure("102", answer_after=1, talk_time=2)
    call = pbx.internal_call("101", "102")
    assert call.wait(5) and call.outcome == "answered"
    caller = hc(events, call.legs["caller"].uuid)
    callee = hc(events, call.legs["agent:102"].uuid)
    assert caller.get("Channel-Name") == "sofia/internal/101@127.0.0.1:5060"
    assert callee.var("dialed_user") == "102" and callee.var("billsec") == "2"


@pytest.mark.parametrize("outcome,cause,a_cause,dialstatus", [
    (BUSY, "USER_BUSY", "USER_BUSY", "BUSY"),
    # like the DID leg of inbound_no_answer: the bridging leg ends NORMAL_CLEARING
    (NO_ANSWER, "NO_ANSWER", "NORMAL_CLEARING", "NOANSWER")])
def test_outbound_far_end_fails(pbx, events, outcome, cause, a_cause, dialstatus):
    pbx.register("102")
    pbx.set_far_end("0911000000", outcome=outcome, reject_after=1)
    call = pbx.outbound_call("102", "0911000000", call_timeout=3)
    assert call.wait(5)
    assert hc(events, call.legs["gateway"].uuid).get("Hangup-Cause") == cause
    a = hc(events, call.legs["caller"].uuid)
    assert a.get("Hangup-Cause") == a_cause and a.var("DIALSTATUS") == dialstatus
    assert a.var("billsec") == "0"


def test_desk_phone_contact_option(pbx, events):
    pbx.register("101")
    pbx.configure("101", baresip_contact=False, answer_after=1, talk_time=1)
    call = pbx.inbound_call(ring=["101"])
    assert call.wait(5)
    create = next(e for e in events.leg(call.legs["agent:101"].uuid) if e.name == "CHANNEL_CREATE")
    assert create.get("Channel-Name") == "sofia/internal/101@127.0.0.1:5110"


def test_wire_round_trip(pbx, events):
    run_scenario(pbx, "inbound_answered").wait(10)
    for event in events:
        for fmt in ("plain", "json"):
            frame = parse_frames(wire.encode_event(event.headers, event.body, fmt))[0]
            back = parse_event(frame)
            back.headers.pop("Content-Length", None)
            assert back.headers == event.headers and back.body == event.body


def test_traffic(pbx):
    started = run_traffic(pbx, calls_per_second=5, extensions=["101", "102", "103", "104"],
                          duration=4, seed=7)
    assert started > 0
    for call in list(pbx.calls):
        assert call.wait(10) and not call.error
