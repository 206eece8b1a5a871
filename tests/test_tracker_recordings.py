"""The call tracker on every recorded FreeSWITCH scenario: exactly the CRM
events a CRM must receive, with the values read from the recordings
(HANGUP_COMPLETE variables of the legs named in the fixtures README)."""

import pytest

from esl_connector.calls.tracker import Tracker
from esl_connector.records import CALL_LOG, INCOMING_CALL, OUTGOING_CALL

from recordings import events

# (scenario, format) -> (callid, [(event_type, params)]), read off the recordings:
# callid = Unique-ID of the call's first leg (the DID leg for inbound calls, the
# extension's leg for outbound, the origination_uuid for click-to-call).
EXPECTED = {
    ("inbound_answered", "plain"): ("db7f6723-4783-447e-8657-1c3e4480a422", "2026-11-25 21:11:13", 6, 3, "ANSWERED"),
    ("inbound_answered", "json"): ("cbc66ece-8d22-4993-b518-1e013fc6f505", "2026-11-25 21:11:25", 5, 3, "ANSWERED"),
    ("inbound_no_answer", "plain"): ("d896f0fb-b23b-4d40-9e0c-23eb68064816", "2026-11-25 21:11:36", 10, 0, "NO ANSWER"),
    ("inbound_no_answer", "json"): ("f6aac17a-1784-4770-bc07-791f7cebbfdf", "2026-11-25 21:11:51", 10, 0, "NO ANSWER"),
    ("inbound_caller_cancel", "plain"): ("5ed5ecca-cf30-43e2-928b-d9d2133b6ad7", "2026-11-25 21:12:06", 5, 0, "NO ANSWER"),
    ("inbound_caller_cancel", "json"): ("42357000-c7c1-423c-b3e2-07d5cf88b926", "2026-11-25 21:12:16", 5, 0, "NO ANSWER"),
    ("inbound_busy", "plain"): ("716dad29-ddf6-4f6d-b30c-f82e2449bb4e", "2026-11-25 21:12:26", 2, 0, "BUSY"),
    ("inbound_busy", "json"): ("fb221acc-06f1-42d3-bff1-dba6212a3920", "2026-11-25 21:12:34", 2, 0, "BUSY"),
    ("api_responses", "plain"): ("e6c8126a-572a-4ee5-84ab-e6f8c107bd75", "2026-11-25 21:13:44", 2, 0, "NO ANSWER"),
    ("api_responses", "json"): ("38b44f2c-666a-4940-a0e5-3961788d8e4e", "2026-11-25 21:13:51", 2, 0, "NO ANSWER"),
    ("outbound_from_extension", "plain"): ("adef7406-f9b2-4ec0-a4c2-5d592a283ffa", "2026-11-25 21:12:42", 4, 3, "ANSWERED"),
    ("outbound_from_extension", "json"): ("983ace93-856f-4579-a46b-34467d2b5a17", "2026-11-25 21:12:51", 5, 3, "ANSWERED"),
    ("recording", "plain"): ("93f02e53-3ba5-483d-af45-84eb74cff407", "2026-11-25 21:13:25", 4, 3, "ANSWERED"),
    ("recording", "json"): ("4bbfe3ca-f5d6-48a4-ab10-bb2b939b1551", "2026-11-25 21:13:34", 4, 3, "ANSWERED"),
    ("click_to_call", "plain"): ("8399d83b-ff16-47a1-b919-9de7bbec961a", "2026-11-25 21:13:01", 6, 3, "ANSWERED"),
    ("click_to_call", "json"): ("b3f67b56-d007-46ac-9dd4-8f72c46cfc67", "2026-11-25 21:13:13", 6, 3, "ANSWERED"),
}
INBOUND = {"inbound_answered", "inbound_no_answer", "inbound_caller_cancel", "inbound_busy", "api_responses"}


def run(scenario, fmt):
    tracker = Tracker()
    crm = []
    for event in events(scenario, fmt):
        crm.extend(tracker.handle(event).crm_events)
    return tracker, crm


@pytest.mark.parametrize("scenario,fmt", sorted(EXPECTED))
def test_recorded_scenario_yields_exactly_the_contract_events(scenario, fmt):
    callid, calldate, duration, billsec, status = EXPECTED[scenario, fmt]
    tracker, crm = run(scenario, fmt)
    inbound = scenario in INBOUND
    extension = "101" if inbound or scenario == "click_to_call" else "102"
    phone = "0904824242" if inbound or scenario == "click_to_call" else "0911222333"
    first = INCOMING_CALL if inbound else OUTGOING_CALL
    assert [(e.event_type, e.params) for e in crm] == [
        (first, {"phone": phone, "extension": extension, "callid": callid}),
        (CALL_LOG, {
            "callid": callid, "calldate": calldate, "extension": extension, "phone": phone,
            "duration": duration, "billsec": billsec, "status": status,
            "recording": f"/srv/pbx/fs/recordings/{callid}.wav" if scenario == "recording" else "",
            "userfield": "ORDER-123" if scenario == "click_to_call" else "",
        }),
    ]
    assert not tracker.calls.active_calls(), "every call of the recording has ended"


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_registration_recording_changes_presence_only(fmt):
    tracker = Tracker()
    states = []
    for event in events("register_unregister", fmt):
        changes = tracker.handle(event)
        assert not changes.crm_events and not changes.calls
        states += [(r.extension, r.state) for r in changes.extensions]
    assert states == [("101", "idle"), ("101", "offline")]


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_extension_presence_follows_the_agent_leg(fmt):
    tracker = Tracker()
    states = []
    for event in events("inbound_answered", fmt):
        states += [r.state for r in tracker.handle(event).extensions if r.extension == "101"]
    assert states == ["ringing", "in_call", "offline"]  # no registration seen in this capture


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_invite_digest_auth_is_not_a_registration(fmt):
    tracker = Tracker()
    for event in events("outbound_from_extension", fmt):
        tracker.handle(event)
    assert "0911222333" not in {ext for _, ext in tracker.extensions.extensions}


def test_calls_are_stored_with_their_legs_and_direction():
    tracker = Tracker()
    final = {}
    for event in events("click_to_call", "plain"):
        for record in tracker.handle(event).calls:
            final[record.callid] = record
    (record,) = final.values()
    assert record.direction == "click2call" and record.state == "ended"
    assert record.userfield == "ORDER-123" and len(record.legs) == 2
    assert record.answered_at > record.started_at > 0 and record.ended_at >= record.answered_at


def test_fake_pstn_loop_legs_produce_nothing():
    """The recording rig's self-loop legs touch no extension: not a CRM call."""
    tracker = Tracker()
    stored = set()
    for event in events("outbound_from_extension", "plain"):
        stored |= {c.callid for c in tracker.handle(event).calls}
    assert stored == {"adef7406-f9b2-4ec0-a4c2-5d592a283ffa"}
