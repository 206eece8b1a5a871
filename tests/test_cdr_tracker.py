"""CDRs into the call tracker (pure): the fixture CDRs give the call log the
Event Socket gives for the same call; a call seen by both sources is reported
once; a call known only from CDRs waits for its legs; bad CDRs are refused."""

import copy
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from esl_connector.calls.cdr import CdrError, parse_cdr
from esl_connector.calls.tracker import Tracker, TrackerSettings
from esl_connector.esl.protocol import Event
from esl_connector.records import CALL_LOG
from esl_connector.simulator import Pbx, run_scenario

from recordings import FIXTURES, events

CLICK_TO_CALL_LOG = {
    "callid": "b3f67b56-d007-46ac-9dd4-8f72c46cfc67", "calldate": "2026-11-25 21:13:13", "extension": "101",
    "phone": "0904824242", "duration": 6, "billsec": 3, "status": "ANSWERED", "recording": "",
    "userfield": "ORDER-123",
}


def fixture_cdr(leg: str) -> dict:
    return json.loads((Path(FIXTURES) / f"json_cdr.click_to_call.{leg}_leg.json").read_text())


def logs(changes):
    return [e.params for e in changes.crm_events if e.event_type == CALL_LOG]


@pytest.mark.parametrize("order", [("agent", "customer"), ("customer", "agent")])
def test_the_fixture_cdrs_alone_give_the_event_sockets_call_log(order):
    tracker = Tracker()
    first = tracker.handle_cdr(parse_cdr(fixture_cdr(order[0])), 0.0)
    assert not first.changes and first.done == []
    second = tracker.handle_cdr(parse_cdr(fixture_cdr(order[1])), 0.5)
    assert logs(second.changes) == [CLICK_TO_CALL_LOG]
    assert second.changes.crm_events[0].event_type == CALL_LOG  # never incoming/outgoing afterwards
    assert sorted(second.done) == sorted([CLICK_TO_CALL_LOG["callid"], "dc87ddd2-67f9-4655-80db-76c5a67a3710"])


def test_the_event_socket_and_its_cdrs_report_the_call_once():
    tracker = Tracker()
    esl_logs = [p for e in events("click_to_call", "json") for p in logs(tracker.handle(e))]
    assert esl_logs == [CLICK_TO_CALL_LOG]
    tracker.handle_cdr(parse_cdr(fixture_cdr("customer")), 0.0)
    result = tracker.handle_cdr(parse_cdr(fixture_cdr("agent")), 0.0)
    assert not result.changes.crm_events
    assert [(r.callid, r.duration, r.billsec, r.status) for r in result.reported] == [
        (CLICK_TO_CALL_LOG["callid"], 6, 3, "ANSWERED")]


def test_a_call_whose_hangups_the_connector_missed_is_closed_by_its_cdrs():
    tracker = Tracker()
    crm = []
    for event in events("click_to_call", "json"):
        if event.name in ("CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE"):
            break  # the connector goes away before any leg hangs up
        crm.extend(tracker.handle(event).crm_events)
    assert [e.event_type for e in crm] == ["outgoing_call"]
    first = tracker.handle_cdr(parse_cdr(fixture_cdr("customer")), 0.0)
    assert not first.changes.crm_events and first.done == ["dc87ddd2-67f9-4655-80db-76c5a67a3710"]
    second = tracker.handle_cdr(parse_cdr(fixture_cdr("agent")), 0.0)
    assert logs(second.changes) == [CLICK_TO_CALL_LOG]
    assert [e.event_type for e in second.changes.crm_events] == [CALL_LOG]
    late = tracker.handle(next(e for e in events("click_to_call", "json") if e.name == "CHANNEL_HANGUP_COMPLETE"))
    assert not late.crm_events  # the Event Socket's late hangup changes nothing


def test_url_encoded_variables_are_decoded():
    doc = fixture_cdr("agent")
    doc["variables"] = {k: quote(v, safe="") for k, v in doc["variables"].items()}  # encode-values=true
    leg = parse_cdr(doc)
    assert leg.start_stamp == "2026-11-25 21:13:13" and leg.variables["crm_userfield"] == "ORDER-123"
    assert leg == parse_cdr(fixture_cdr("agent"))


def test_an_incomplete_call_is_closed_after_complete_after():
    tracker = Tracker(TrackerSettings(cdr_complete_after=5.0))
    assert not tracker.handle_cdr(parse_cdr(fixture_cdr("agent")), 100.0).changes
    assert not tracker.cdr_tick(104.0).changes and tracker.cdrs.waiting() == 1
    closed = tracker.cdr_tick(105.0)
    assert [p["callid"] for p in logs(closed.changes)] == [CLICK_TO_CALL_LOG["callid"]]
    assert closed.done == [CLICK_TO_CALL_LOG["callid"]] and tracker.cdrs.waiting() == 0


def _broken(change):
    doc = fixture_cdr("agent")
    change(doc)
    return doc


@pytest.mark.parametrize("doc,why", [
    ([], "must be a JSON object"),
    ({"variables": "x"}, "'variables' must be a JSON object"),
    (_broken(lambda d: d["variables"].update(billsec=3)), "variables.billsec must be a string"),
    (_broken(lambda d: d["variables"].update(billsec="-3")), "variables.billsec must be a non-negative"),
    (_broken(lambda d: d["variables"].pop("uuid")), "variables.uuid is missing"),
    (_broken(lambda d: d["variables"].update(uuid="../../etc/passwd")), "variables.uuid is missing or not"),
    (_broken(lambda d: d["variables"].update(call_uuid="x" * 200)), "variables.call_uuid"),
    (_broken(lambda d: d["variables"].update(direction="sideways")), "variables.direction"),
    (_broken(lambda d: [d["variables"].pop(k) for k in ("end_uepoch", "end_epoch")]), "not the CDR of a channel"),
    (_broken(lambda d: d.update(callflow={"a": 1})), "'callflow' must be a list"),
    (_broken(lambda d: d["variables"].update({f"v{i}": "" for i in range(6000)})), "more than 5000"),
])
def test_unusable_cdrs_are_refused_with_the_reason(doc, why):
    with pytest.raises(CdrError, match=why.replace("(", r"\(").replace(".", r"\.")):
        parse_cdr(doc)


def test_hostile_values_are_kept_as_inert_text():
    doc = fixture_cdr("agent")
    doc["variables"]["crm_userfield"] = "'; DROP TABLE calls; -- <script>\u202e"
    doc["variables"]["sip_call_id"] = "x" * 100_000  # dropped: never used, too long to keep
    leg = parse_cdr(copy.deepcopy(doc))
    assert leg.variables["crm_userfield"] == doc["variables"]["crm_userfield"]
    assert "sip_call_id" not in leg.variables


SCENARIOS = ["inbound_answered", "inbound_no_answer", "inbound_caller_cancel", "inbound_busy",
             "outbound_from_extension", "recording", "click_to_call", "ring_group"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_simulated_cdrs_give_the_same_call_log_as_the_simulated_events(scenario):
    settings = TrackerSettings(cdr_recording_variables=("fslab_recording_path",))
    esl, cdrs = Tracker(settings), Tracker(settings)
    esl_logs, cdr_logs = [], []
    pbx = Pbx(lambda headers, body="": esl_logs.extend(logs(esl.handle(Event(dict(headers), body)))), speed=400)
    pbx.add_cdr_output(lambda doc, is_b: cdr_logs.extend(logs(cdrs.handle_cdr(parse_cdr(doc), 0.0).changes)))
    pbx.register_all()
    run_scenario(pbx, scenario).wait()
    pbx.stop()
    assert len(esl_logs) == 1 and cdr_logs == esl_logs
