"""The storable view of a call (``CallRecord``) and its call log's fields:
pure functions of a ``Call``'s legs (rules in docs/calls.md and call_log)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..records import INBOUND, CallRecord
from ..settings import phones
from ..settings.phones import PhoneRules
from . import call_log
from .call_model import Call
from .legs import Leg

log = logging.getLogger(__name__)

Webphone = Callable[[str, str, str], bool]


def shown_number(call: Call, leg: Leg) -> str:
    """The caller ID the phone of an extension rung by ``leg`` shows: the
    leg's ``Caller-Caller-ID-Number``, unless it is one of the call's own
    extensions (the consultation leg of an attended transfer shows the
    transferring agent)."""
    if leg.direction != "outbound" or not leg.is_extension or not leg.caller_number:
        return ""
    own = {other.extension for other in call.legs.values() if other.is_extension}
    return "" if leg.caller_number in own else leg.caller_number


def inbound_phone(call: Call, leg: Leg | None = None) -> str:
    """The customer of an inbound call: the number the agent's phone shows
    (``leg``'s, else the agent the call log names, else any extension rung),
    whichever trunk, loopback, queue or transfer legs the call crossed; only
    when no ringing leg shows one, the caller ID of the legs that called in."""
    ext_legs = call.extension_legs()
    agent = leg or agent_leg(call, INBOUND, ext_legs)
    for candidate in filter(None, (agent, *reversed(ext_legs))):
        number = shown_number(call, candidate)
        if number:
            return number
    callers = [other for other in call.ordered()
               if other.direction == "inbound" and not other.is_extension and other.caller_number]
    if callers:  # a trunk leg before loopback halves
        return min(callers, key=lambda caller: caller.is_plumbing).caller_number
    root = call.root
    return root.number if root is not None else ""


def phone_of(call: Call) -> str:
    """The external party's number, as FreeSWITCH gave it (not normalised):
    the customer of an inbound call (``inbound_phone``), the customer dialled
    by an outbound call or click-to-call."""
    root = call.root
    if root is not None and not root.is_extension:
        return inbound_phone(call)
    external = call.external_legs()
    if external:
        return external[0].number
    if root is None:
        return ""
    return root.caller_number if root.direction == "outbound" else root.destination


def crm_phone(call: Call, raw: str, rules: PhoneRules) -> str:
    """``raw`` as the CRM gets it (``settings.phones``); a value that is not a
    number is logged once per call, with the raw value."""
    value, problem = phones.crm_phone(raw, rules)
    if problem and raw not in call.phone_warned:
        call.phone_warned.add(raw)
        log.warning("call %s: phone %s is not a number (%s); the CRM gets %r instead",
                    call.callid, phones.log_value(raw), problem, value)
    return value


def log_params(record: CallRecord, phone: str | None = None) -> dict[str, str | int]:
    """The nine fields of the contract's call log, with their types;
    ``phone``: the CRM's form of ``record.phone`` (``crm_phone``)."""
    return {
        "callid": record.callid, "calldate": record.calldate, "extension": record.extension,
        "phone": record.phone if phone is None else phone, "duration": record.duration, "billsec": record.billsec,
        "status": record.status, "recording": record.recording, "userfield": record.userfield,
    }


def agent_leg(call: Call, direction: str, ext_legs: list[Leg]) -> Leg | None:
    """The extension the call log names: for inbound calls the last one that
    answered, else the last one rung; otherwise the calling extension."""
    if direction != INBOUND:
        root = call.root
        return root if root is not None and root.is_extension else (ext_legs[0] if ext_legs else None)
    answered = [leg for leg in ext_legs if leg.answered]
    if answered:
        return max(answered, key=lambda leg: leg.answered_at)
    rung = [leg for leg in ext_legs if leg.ringing_at] or ext_legs
    return rung[-1] if rung else None


def userfield_of(call: Call, variables: tuple[str, ...], header_var: str, webphone: Webphone | None) -> str:
    """The CRM's own value for this call, first found of: a userfield
    channel variable (click-to-call), the custom SIP header a webphone
    sent, the SIP Call-ID of a webphone's INVITE (guide 2.2)."""
    legs = call.ordered()
    for var in variables:
        for leg in legs:
            if leg.variables.get(var):
                return leg.variables[var]
    callers = [leg for leg in legs if leg.is_extension and leg.direction == "inbound"]
    for leg in callers:
        if header_var and leg.variables.get(header_var):
            return leg.variables[header_var]
    for leg in callers:
        if webphone is not None and webphone(leg.extension, leg.domain, leg.variables.get("sip_via_protocol", "")):
            return leg.variables.get("sip_call_id", "")
    return ""


def call_record(call: Call, userfield: str, state: dict | None = None) -> CallRecord:
    """The storable view of a call, final once every leg has hung up;
    ``state``: its ``call_state`` while it is live."""
    direction = call.direction
    root = call.root
    ext_legs, ext_out = call.extension_legs(), call.external_legs()
    agent = agent_leg(call, direction, ext_legs)
    finished = call.finished
    status, talking = call_log.decide(direction, ext_legs, ext_out, root) if finished else ("", [])
    start, end = call_log.call_bounds(list(call.legs.values()))
    answered = [leg.answered_at for leg in (talking if finished else ext_out or ext_legs) if leg.answered_at]
    live = "active" if any(leg.answered for leg in call.legs.values()) else "ringing"
    return CallRecord(
        callid=call.callid, direction=direction, state="ended" if finished else live,
        phone=phone_of(call), extension=agent.extension if agent else "",
        domain=agent.domain if agent else "",
        extensions=list(dict.fromkeys(leg.extension for leg in ext_legs)),
        started_at=root.created_at if root else 0.0,
        answered_at=min(answered) if answered else 0.0,
        ended_at=float(end) if finished else 0.0,
        calldate=call_log.calldate(root, start), status=status,
        hangup_cause=(root.hangup_cause if root else "") if finished else "",
        duration=end - start if finished else 0,
        billsec=call_log.talk_seconds(talking) if finished else 0,
        recording=call.recordings[0] if call.recordings else "",
        recordings=list(call.recordings), userfield=userfield,
        node=call.node, legs=list(call.legs),
        end_source=call.end_source if finished else "", tracker_state=state or {},
    )
