"""The simulator's events have the shape of the real FreeSWITCH recordings.

For each recorded scenario and each leg a CRM connector sees (DID leg, agent
leg rung via user/101, an extension's own leg, the gateway B-leg, the
click-to-call agent leg), compare with the recording:

* the leg's full sequence of event names (every event on that Unique-ID);
* the header names of CHANNEL_CREATE, CHANNEL_ANSWER, CHANNEL_HANGUP_COMPLETE
  (and the CUSTOM sofia::* and BACKGROUND_JOB ones in test_simulator_pbx.py).

Not compared: the recordings' self-loop "fake PSTN" legs (see docs/simulator.md),
and HEARTBEAT / RE_SCHEDULE / API / MESSAGE_QUERY, which are not per-leg.
"""

from __future__ import annotations

import functools

import pytest

from esl_connector.esl.protocol import Event
from esl_connector.simulator import scenarios
from esl_connector.simulator.pbx import Pbx

import recordings

SPEED = 400.0
NOT_PER_LEG = {"HEARTBEAT", "RE_SCHEDULE", "API", "MESSAGE_QUERY", "BACKGROUND_JOB", "CUSTOM"}
# Header names we deliberately differ on, with the reason (docs/simulator.md).
ALLOWED_EXTRA: set[str] = set()
ALLOWED_MISSING = {
    # The lab dialplan's fake-PSTN caller set this on the originate; not a DID property.
    "variable_fslab_role",
}


def recorded_kind(create: Event) -> str | None:
    name, direction = create.get("Channel-Name"), create.get("Call-Direction")
    if name.startswith("sofia/internal/"):
        if direction == "inbound":
            return "ext_out"
        return "agent" if create.var("originator") else "c2c_agent"
    if name.startswith("sofia/external/") and direction == "outbound":
        return "gateway" if create.var("originator") else None  # None: fake caller
    if create.get("Caller-Destination-Number").startswith("1900"):
        return "did"
    return None  # fake PSTN subscriber


def legs_by_kind(events: list[Event], kind_of) -> dict[str, list[Event]]:
    per_uuid: dict[str, list[Event]] = {}
    for event in events:
        if event.name not in NOT_PER_LEG and event.uuid:
            per_uuid.setdefault(event.uuid, []).append(event)
    out = {}
    for leg_events in per_uuid.values():
        create = next(e for e in leg_events if e.name == "CHANNEL_CREATE")
        kind = kind_of(create)
        if kind and kind not in out:
            out[kind] = leg_events
    return out


@functools.cache
def simulated(name: str) -> tuple[list[Event], dict]:
    events: list[Event] = []
    pbx = Pbx(lambda headers, body="": events.append(Event(dict(headers), body)), speed=SPEED)
    run = scenarios.run(pbx, name)
    assert run.wait(20), f"scenario {name} did not finish"
    return events, run.result


def sim_kind(result: dict):
    roles = {uuid: role for role, uuid in result.items() if isinstance(uuid, str)}

    def kind(create: Event) -> str | None:
        role = roles.get(create.uuid, "")
        if role == "did" or role == "gateway":
            return role
        if role == "caller":
            return "ext_out"
        if role == "agent":
            return "c2c_agent"
        return "agent" if role.startswith("agent:") else None
    return kind


CASES = [
    ("inbound_answered", "agent"), ("inbound_answered", "did"),
    ("inbound_no_answer", "agent"), ("inbound_no_answer", "did"),
    ("inbound_caller_cancel", "agent"), ("inbound_caller_cancel", "did"),
    ("inbound_busy", "agent"), ("inbound_busy", "did"),
    ("outbound_from_extension", "ext_out"), ("outbound_from_extension", "gateway"),
    ("recording", "ext_out"), ("recording", "gateway"),
    ("click_to_call", "c2c_agent"), ("click_to_call", "gateway"),
]


def both(scenario: str, kind: str) -> tuple[list[Event], list[Event]]:
    rec = legs_by_kind(recordings.events(scenario, "plain"), recorded_kind)[kind]
    events, result = simulated(scenario)
    sim = legs_by_kind(events, sim_kind(result))[kind]
    return rec, sim


@pytest.mark.parametrize("scenario,kind", CASES)
def test_event_sequence_per_leg(scenario, kind):
    rec, sim = both(scenario, kind)
    assert [e.name for e in sim] == [e.name for e in rec]


@pytest.mark.parametrize("event_name", ["CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE"])
@pytest.mark.parametrize("scenario,kind", CASES)
def test_header_names(scenario, kind, event_name):
    rec, sim = both(scenario, kind)
    rec_event = next((e for e in rec if e.name == event_name), None)
    sim_event = next((e for e in sim if e.name == event_name), None)
    assert (rec_event is None) == (sim_event is None)
    if rec_event is None:
        return
    rec_names, sim_names = set(rec_event.headers), set(sim_event.headers)
    assert sim_names - rec_names - ALLOWED_EXTRA == set(), "headers FreeSWITCH does not send"
    assert rec_names - sim_names - ALLOWED_MISSING == set(), "headers missing"
