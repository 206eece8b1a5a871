"""A call as the tracker holds it: its legs, and what they make it.

A call is every leg sharing one ``Channel-Call-UUID`` (see ``calls``); its
direction is derived from the legs each time, never stored, so legs arriving
in any order give the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter

from ..records import CLICK_TO_CALL, INBOUND, INTERNAL, OUTBOUND, UNKNOWN
from .legs import Leg

# Set by the connector's click-to-call on the agent leg: an originate that
# rings an extension is a click-to-call once a customer leg appears, or
# before that only when it carries this (or a userfield) - not an admin's
# `originate user/101 &park()`, a wake-up call or a paging originate.
CLICK2CALL_MARKER = "cti_click2call"
NOT_A_CRM_CALL = ""
_CREATION_ORDER = attrgetter("created_at", "uuid")



@dataclass(slots=True)
class Call:
    callid: str
    node: str = ""
    legs: dict[str, Leg] = field(default_factory=dict)
    notified: set[tuple[str, str]] = field(default_factory=set)
    recordings: list[str] = field(default_factory=list)
    userfield_set: bool = False  # a userfield variable was seen on one of its legs
    phone_warned: set[str] = field(default_factory=set)  # raw phones already logged as not a number
    end_source: str = ""  # records.END_*: how its legs' ends became known

    @property
    def root(self) -> Leg | None:
        leg = self.legs.get(self.callid)
        if leg is None and self.legs:
            leg = min(self.legs.values(), key=lambda item: item.created_at)
        return leg

    def ordered(self) -> list[Leg]:
        return sorted(self.legs.values(), key=_CREATION_ORDER)

    def extension_legs(self) -> list[Leg]:
        return [leg for leg in self.ordered() if leg.extension]  # is_extension, without a call each

    def external_legs(self) -> list[Leg]:
        return [leg for leg in self.ordered() if leg.is_external and leg.uuid != self.callid]

    @property
    def direction(self) -> str:
        root = self.root
        if root is None:
            return NOT_A_CRM_CALL
        if not root.is_extension:
            return INBOUND if self.extension_legs() else NOT_A_CRM_CALL
        if root.direction == "outbound" and not root.originator:
            others = [leg for leg in self.extension_legs() if leg is not root]
            if self.external_legs():
                return CLICK_TO_CALL
            if others:
                return INTERNAL
            return CLICK_TO_CALL if root.variables.get(CLICK2CALL_MARKER) or self.userfield_set else UNKNOWN
        if self.external_legs():
            return OUTBOUND
        return INTERNAL if len(self.extension_legs()) > 1 else UNKNOWN

    @property
    def finished(self) -> bool:
        return bool(self.legs) and all(leg.hungup for leg in self.legs.values())


def opens_loopback(leg: Leg, call: Call) -> bool:
    """``leg`` is the originating half (``loopback/...-a``) of a loopback pair
    whose other half, seen first, started ``call``, and that call has produced
    nothing yet: the -a half, created first, is the call's first leg, so its
    Unique-ID is the callid whichever half's events arrive first."""
    return (leg.name.startswith("loopback/") and leg.name.endswith("-a") and leg.direction == "outbound"
            and call.callid == leg.originator and not call.direction and not call.notified)
