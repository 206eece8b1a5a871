"""The ``phone`` of every CRM event: the customer's number in the CRM's form
(the customer's phone rules), whatever the caller ID looked like and whatever
route the call took; the raw number stays in the call row.

Recorded shapes: the real recordings with the caller number replaced
(``recordings.with_caller``, encoded as FreeSWITCH encodes it in each format),
and ``inbound_via_loopback`` in its recorded order and reordered."""

import logging

import pytest

from esl_connector.calls.call_tracker import TrackerSettings
from esl_connector.calls.tracker import Tracker
from esl_connector.esl.protocol import parse_capture
from esl_connector.records import CALL_LOG, INCOMING_CALL, OUTGOING_CALL
from esl_connector.settings.phones import PhoneRules

from channel_events import extension_caller, gateway_leg
from recordings import events, with_caller

VN = PhoneRules(prefixes=(("+84", "0"), ("84", "0")), min_digits=9, max_digits=11)
HOSTILE = "0904\nvariable_crm_userfield: HACKED\nvariable_dialed_user: 999"


def vn_tracker(placeholder=""):
    rules = PhoneRules(prefixes=VN.prefixes, min_digits=9, max_digits=11, placeholder=placeholder)
    return Tracker(TrackerSettings(phone_rules=lambda extension, domain: rules))


def run(tracker, evs):
    crm, calls = [], []
    for event in evs:
        changes = tracker.handle(event)
        crm += changes.crm_events
        calls += changes.calls
    return crm, calls[-1]


def summary(crm):
    return [(e.event_type, e.extension, e.params["phone"]) for e in crm]


@pytest.mark.parametrize("fmt", ["plain", "json"])
@pytest.mark.parametrize("caller", ["+84904824242", "84904824242", "0904824242", "+84 904 824 242"])
def test_an_inbound_caller_reaches_the_crm_in_the_customers_form(fmt, caller):
    crm, call = run(vn_tracker(), parse_capture(with_caller("inbound_answered", fmt, caller)))
    assert summary(crm) == [(INCOMING_CALL, "101", "0904824242"), (CALL_LOG, "101", "0904824242")]
    assert call.state == "ended" and call.phone == caller  # the connector's own data keeps it raw


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_without_phone_rules_a_number_is_sent_as_the_carrier_gave_it(fmt):
    """Backwards compatible: no ``phone_prefixes`` means no rewriting."""
    crm, _ = run(Tracker(), parse_capture(with_caller("inbound_answered", fmt, "+84904824242")))
    assert summary(crm) == [(INCOMING_CALL, "101", "+84904824242"), (CALL_LOG, "101", "+84904824242")]


@pytest.mark.parametrize("fmt", ["plain", "json"])
@pytest.mark.parametrize("caller,stored", [
    (HOSTILE, "0904\\nvariable_crm_userfield: HACKED\\nvariable_dialed_user: 999"),
    ("0904%0Avariable_dialed_user%3A%20999", "0904\\nvariable_dialed_user: 999"),  # FreeSWITCH's %XX quirk
    ("0904\r\n\x00824242", "0904\\r\\n\\x00824242"),
    ("0904\udcff\udcfe824242", "0904\\xff\\xfe824242"),  # bytes that are not UTF-8
    ("\u202e0904824242", "\\u202e0904824242"),  # a bidi override
    ("anonymous", "anonymous"),
    ("", ""),
    ("9" * 2048, "9" * 125 + "..."),
])
def test_a_caller_id_that_is_not_a_number_never_reaches_the_crm(fmt, caller, stored, caplog):
    recorded = "0904824242"
    if fmt == "json" and "%" in caller:
        stored = caller  # only plain values are URL-decoded
    evs = parse_capture(with_caller("inbound_answered", fmt, caller)) if caller else [
        e for e in events("inbound_answered", fmt)]
    if not caller:  # FreeSWITCH omits an empty header: drop the caller number everywhere
        for e in evs:
            for name in [n for n, v in e.headers.items() if v == recorded]:
                del e.headers[name]
    with caplog.at_level(logging.WARNING):
        crm, call = run(vn_tracker(placeholder="anonymous"), evs)
    assert summary(crm) == [(INCOMING_CALL, "101", "anonymous"), (CALL_LOG, "101", "anonymous")]
    assert crm[-1].params["userfield"] == ""  # nothing forged by the caller's text
    assert call.phone == stored and call.phone.isprintable()
    warnings = [r.getMessage() for r in caplog.records if "is not a number" in r.getMessage()]
    assert len(warnings) == 1, "once per call, not per event or per retry"
    assert "\n" not in warnings[0] and "\x00" not in warnings[0] and stored[:40] in warnings[0]


def test_an_outgoing_number_is_normalised_too():
    agent = extension_caller("102", "84911222333")
    out = gateway_leg(agent, "84911222333")
    evs = [agent.create(0), out.create(1), out.answer(3), out.hangup(6), agent.hangup(6)]
    crm, call = run(vn_tracker(), evs)
    assert summary(crm) == [(OUTGOING_CALL, "102", "0911222333"), (CALL_LOG, "102", "0911222333")]
    assert call.phone == "84911222333"


# -- inbound calls routed through loopback ---------------------------------------------

def _legs(evs):
    """Channel-Name -> Unique-ID of the recording's four loopback legs."""
    return {e.get("Channel-Name"): e.uuid for e in evs if e.name == "CHANNEL_CREATE"}


def _move_first(evs, chosen):
    """``chosen`` events (kept in their order) moved before all others. Every
    reordering keeps each channel's own events in order, as FreeSWITCH does."""
    picked = [e for e in evs if chosen(e)]
    return picked + [e for e in evs if not chosen(e)]


def reorder(evs, how):
    legs = _legs(evs)
    did_b, agent = legs["loopback/19012001-b"], legs["loopback/load_agent-a"]
    if how == "recorded":
        return evs
    if how == "did_b_leg_first":
        return _move_first(evs, lambda e: e.uuid == did_b and e.name == "CHANNEL_CREATE")
    if how == "agent_leg_early":  # right after the DID leg that bridges to it was created
        moved = [e for e in evs if e.uuid == agent and e.name in ("CHANNEL_CREATE", "CHANNEL_ANSWER")]
        rest = [e for e in evs if e not in moved]
        at = next(i for i, e in enumerate(rest) if e.uuid == did_b and e.name == "CHANNEL_CREATE") + 1
        return rest[:at] + moved + rest[at:]
    if how == "creates_reversed":
        creates = [e for e in evs if e.name == "CHANNEL_CREATE"][::-1]
        return creates + [e for e in evs if e.name != "CHANNEL_CREATE"]
    raise ValueError(how)


@pytest.mark.parametrize("fmt", ["plain", "json"])
@pytest.mark.parametrize("how", ["recorded", "did_b_leg_first", "agent_leg_early", "creates_reversed"])
def test_a_loopback_routed_inbound_call_sends_the_number_the_agent_sees(fmt, how):
    """The agent leg (``variable_dialed_user=2001``) shows
    ``Caller-Caller-ID-Number: 0904824242``; the first leg is the loopback's
    ``-a`` half (outbound, destination = the DID 19012001), which an order-
    dependent choice sent as the customer's phone."""
    recorded = events("inbound_via_loopback", fmt)
    crm, call = run(Tracker(), reorder(recorded, how))
    assert summary(crm) == [(INCOMING_CALL, "2001", "0904824242"), (CALL_LOG, "2001", "0904824242")]
    assert crm[-1].params["status"] == "ANSWERED" and call.phone == "0904824242"
    first_leg = _legs(recorded)["loopback/19012001-a"]
    if how == "creates_reversed":  # the agent's leg before the DID leg that bridged to it: one call still
        assert len({e.callid for e in crm}) == 1
    else:  # the -a half's Unique-ID, whichever half's events come first
        assert {e.callid for e in crm} == {first_leg}


# Read off inbound_via_loopback: the -a half's Unique-ID (the first leg), its
# variable_start_stamp, and the agent leg's billsec; every leg NORMAL_CLEARING.
LOOPBACK = {"plain": ("aefe78be-1f78-47f5-b52c-8489405d8399", "2026-11-27 10:09:25"),
            "json": ("d9504962-cff4-465f-8942-e11809e0a82f", "2026-11-27 10:09:31")}


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_the_loopback_recording_yields_exactly_the_contract_events(fmt):
    callid, calldate = LOOPBACK[fmt]
    crm, _ = run(Tracker(), events("inbound_via_loopback", fmt))
    assert [(e.event_type, e.params) for e in crm] == [
        (INCOMING_CALL, {"phone": "0904824242", "extension": "2001", "callid": callid}),
        (CALL_LOG, {"callid": callid, "calldate": calldate, "extension": "2001", "phone": "0904824242",
                    "duration": 1, "billsec": 1, "status": "ANSWERED", "recording": "", "userfield": ""}),
    ]


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_a_loopback_routed_call_from_a_plus84_caller(fmt):
    evs = parse_capture(with_caller("inbound_via_loopback", fmt, "+84904824242"))
    crm, call = run(vn_tracker(), evs)
    assert summary(crm) == [(INCOMING_CALL, "2001", "0904824242"), (CALL_LOG, "2001", "0904824242")]
    assert call.phone == "+84904824242"
