"""A live call's tracker state as plain JSON data, and back.

Stored with every version of a call row (``CallRecord.tracker_state``, in the
same transaction as the call's outbox rows), so the state a restarted
connector takes up is exactly the one its committed CRM events came from: a
start event in the outbox is in ``notified``, and is never derived again.
Pure functions, no I/O. Unknown keys are ignored and missing ones take their
defaults, so a state written by another version still loads.
"""

from __future__ import annotations

from dataclasses import fields
from operator import attrgetter

from .call_model import Call
from .legs import Leg

STATE_VERSION = 1
_LEG_FIELDS = tuple(f.name for f in fields(Leg))
_leg_values = attrgetter(*_LEG_FIELDS)
_SCALARS = tuple(name for name in _LEG_FIELDS if name != "variables")
_scalar_values = attrgetter(*_SCALARS)


def leg_state(leg: Leg) -> dict:
    data = dict(zip(_LEG_FIELDS, _leg_values(leg)))
    data["variables"] = dict(leg.variables)
    return data


def leg_states(call: Call) -> list[dict]:
    """``leg_state`` of each of the call's legs. A leg unchanged since the
    call's last state gives the same dict again (``Call.stored_legs``; these
    dicts are never changed once made: the writer encodes them later)."""
    stored, states = call.stored_legs, []
    for uuid, leg in call.legs.items():
        values = _scalar_values(leg)
        known = stored.get(uuid)
        if known is None or known[0] != values or known[1]["variables"] != leg.variables:
            known = stored[uuid] = (values, leg_state(leg))
        states.append(known[1])
    return states


def call_state(call: Call, aliases: list[str]) -> dict:
    """Everything needed to rebuild ``call``; ``aliases``: callids of calls
    merged into it (their late legs must still find it)."""
    return {
        "v": STATE_VERSION, "callid": call.callid, "node": call.node,
        "legs": leg_states(call),
        "notified": sorted([kind, ext] for kind, ext in call.notified),
        "recordings": list(call.recordings), "userfield_set": call.userfield_set,
        "aliases": list(aliases),
    }


def leg_from_state(data: dict) -> Leg:
    known = {name: data[name] for name in _LEG_FIELDS if name in data}
    known["variables"] = dict(known.get("variables") or {})
    return Leg(**known)


def call_from_state(data: dict) -> tuple[Call, list[str]]:
    """(the call, the callids merged into it). Raises KeyError/TypeError/
    ValueError on a state that is not one (the caller reports it)."""
    call = Call(str(data["callid"]), node=data.get("node", ""))
    for item in data.get("legs") or []:
        leg = leg_from_state(item)
        call.legs[leg.uuid] = leg
    call.notified = {(str(kind), str(ext)) for kind, ext in data.get("notified") or []}
    call.recordings = list(data.get("recordings") or [])
    call.userfield_set = bool(data.get("userfield_set"))
    return call, [str(a) for a in data.get("aliases") or []]
