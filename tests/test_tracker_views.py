"""What the tracker derives once per event gives what deriving it on every
read gives: a call's views (root, legs in order, direction, finished) held
while an event's output is built, and the state of legs unchanged since the
call's last state, reused. On every real recording, in both formats, under
two sets of userfield settings, the output is the same event by event."""

from __future__ import annotations

import pytest

from esl_connector.calls import call_state
from esl_connector.calls.call_model import Call
from esl_connector.calls.tracker import Tracker
from esl_connector.calls.tracker_settings import TrackerSettings
from esl_connector.esl.protocol import Event, parse_capture

from recordings import all_capture_files

SETTINGS = {
    "defaults": TrackerSettings(),
    "other userfield sources": TrackerSettings(userfield_variables=("crm_ref", "crm_userfield"),
                                               userfield_header="X-CRM-Ref"),
}


def outputs(path, settings) -> list:
    tracker = Tracker(settings)
    return [tracker.handle(event) for event in parse_capture(path.read_bytes())]


def derived_on_every_read(monkeypatch) -> None:
    monkeypatch.setattr(Call, "hold_views", lambda call: None)
    monkeypatch.setattr(call_state, "leg_states",
                        lambda call: [call_state.leg_state(leg) for leg in call.legs.values()])


@pytest.mark.parametrize("settings", SETTINGS.values(), ids=SETTINGS.keys())
@pytest.mark.parametrize("path", all_capture_files(), ids=lambda p: p.name)
def test_views_derived_once_per_event_give_the_same_output(path, settings):
    with pytest.MonkeyPatch.context() as monkeypatch:
        derived_on_every_read(monkeypatch)
        expected = outputs(path, settings)
    held = outputs(path, settings)
    assert len(held) == len(expected)
    for index, (got, want) in enumerate(zip(held, expected)):
        assert got == want, f"event #{index}"


def test_the_comparison_sees_the_calls():
    """The recordings above do produce calls with a stored state."""
    path = next(p for p in all_capture_files() if p.name == "inbound_answered.json.esl")
    states = [record.tracker_state for changes in outputs(path, TrackerSettings())
              for record in changes.calls if record.tracker_state]
    assert len(states) >= 3
    assert all(state["legs"] for state in states)


def test_views_are_derived_on_every_read_outside_an_event():
    tracker = Tracker()
    path = next(p for p in all_capture_files() if p.name == "inbound_answered.json.esl")
    events = parse_capture(path.read_bytes())
    for event in events[:len(events) // 2]:
        tracker.handle(event)
    call = next(iter(tracker.calls.calls.values()))
    legs = call.ordered()
    assert legs is not call.ordered()  # nothing held between events
    del call.legs[legs[-1].uuid]
    assert len(call.ordered()) == len(legs) - 1


def channel_event(name: str, uuid: str, **headers: str) -> Event:
    return Event({"Event-Name": name, "Unique-ID": uuid, "Channel-Call-UUID": "call-1", **headers})


def test_a_root_changed_by_a_late_creation_time_stores_the_call_again():
    """A leg first seen without its creation time gets it from a later event;
    when that makes another leg the call's first, and so changes the call's
    direction, the call is stored again even though no leg changed otherwise."""
    tracker = Tracker()
    agent = {"Call-Direction": "inbound", "Channel-Name": "sofia/internal/101@pbx",
             "variable_user_name": "101", "variable_domain_name": "pbx"}
    customer = {"Call-Direction": "outbound", "Channel-Name": "sofia/gateway/trunk/0904824242",
                "Caller-Destination-Number": "0904824242", "Caller-Channel-Created-Time": "100000000"}
    tracker.handle(channel_event("CHANNEL_CREATE", "agent-leg", **agent))
    first = tracker.handle(channel_event("CHANNEL_CREATE", "customer-leg", **customer))
    assert [record.direction for record in first.calls] == ["outbound"]  # the agent's leg first (no time)
    tracker.handle(channel_event("CHANNEL_HANGUP_COMPLETE", "agent-leg", **agent))
    late = tracker.handle(channel_event("CHANNEL_HANGUP_COMPLETE", "agent-leg", **agent,
                                        **{"Caller-Channel-Created-Time": "200000000"}))
    assert [record.direction for record in late.calls] == ["inbound"]  # the customer's leg is first now
