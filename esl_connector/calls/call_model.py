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
    # The state last stored of each leg, by uuid: (its values, ``call_state.leg_state``).
    stored_legs: dict[str, tuple] = field(default_factory=dict, compare=False, repr=False)
    # While the legs hold still (``hold_views`` .. ``release_views``): the
    # views derived from them, each computed once. None: derived on every read.
    _views: dict[str, object] | None = field(default=None, compare=False, repr=False)

    def hold_views(self) -> None:
        """The legs will not change until ``release_views``: ``root``,
        ``ordered``, ``extension_legs``, ``external_legs``, ``direction`` and
        ``finished`` are derived once meanwhile (one event derives them many
        times: its CRM events, its call record, its change check)."""
        self._views = {}

    def release_views(self) -> None:
        self._views = None

    def _view(self, name: str, derive):
        views = self._views
        if views is None:
            return derive(self)
        value = views.get(name, _UNSET)
        if value is _UNSET:
            value = views[name] = derive(self)
        return value

    @property
    def root(self) -> Leg | None:
        return self._view("root", _root)

    def ordered(self) -> list[Leg]:
        return self._view("ordered", _ordered)

    def extension_legs(self) -> list[Leg]:
        return self._view("extension_legs", _extension_legs)

    def external_legs(self) -> list[Leg]:
        return self._view("external_legs", _external_legs)

    @property
    def direction(self) -> str:
        return self._view("direction", _direction)

    @property
    def finished(self) -> bool:
        return self._view("finished", _finished)


_UNSET = object()


def _root(call: Call) -> Leg | None:
    leg = call.legs.get(call.callid)
    if leg is None and call.legs:
        leg = min(call.legs.values(), key=lambda item: item.created_at)
    return leg


def _ordered(call: Call) -> list[Leg]:
    return sorted(call.legs.values(), key=_CREATION_ORDER)


def _extension_legs(call: Call) -> list[Leg]:
    return [leg for leg in call.ordered() if leg.extension]  # is_extension, without a call each


def _external_legs(call: Call) -> list[Leg]:
    return [leg for leg in call.ordered() if leg.is_external and leg.uuid != call.callid]


def _direction(call: Call) -> str:
    root = call.root
    if root is None:
        return NOT_A_CRM_CALL
    if not root.is_extension:
        return INBOUND if call.extension_legs() else NOT_A_CRM_CALL
    if root.direction == "outbound" and not root.originator:
        others = [leg for leg in call.extension_legs() if leg is not root]
        if call.external_legs():
            return CLICK_TO_CALL
        if others:
            return INTERNAL
        return CLICK_TO_CALL if root.variables.get(CLICK2CALL_MARKER) or call.userfield_set else UNKNOWN
    if call.external_legs():
        return OUTBOUND
    return INTERNAL if len(call.extension_legs()) > 1 else UNKNOWN


def _finished(call: Call) -> bool:
    return bool(call.legs) and all(leg.hungup for leg in call.legs.values())


def opens_loopback(leg: Leg, call: Call) -> bool:
    """``leg`` is the originating half (``loopback/...-a``) of a loopback pair
    whose other half, seen first, started ``call``, and that call has produced
    nothing yet: the -a half, created first, is the call's first leg, so its
    Unique-ID is the callid whichever half's events arrive first."""
    return (leg.name.startswith("loopback/") and leg.name.endswith("-a") and leg.direction == "outbound"
            and call.callid == leg.originator and not call.direction and not call.notified)
