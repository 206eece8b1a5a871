"""One FreeSWITCH channel ("leg") as the call tracker sees it, built from events.

Extension identification (why not the channel name or destination number):
phones that register a contact like ``sip:101-0x55...@host`` give agent legs
named ``sofia/internal/101-0x55...@host`` whose destination number is
``101-0x55...``. FreeSWITCH's directory tells us the user reliably:

* a leg *to* an extension (``bridge user/101``) is outbound and carries
  ``variable_dialed_user``/``variable_dialed_domain``;
* a call *from* an extension is inbound and authenticated, so it carries
  ``variable_user_name``/``variable_domain_name`` (``sip_auth_*`` as fallback).

``dialed_user`` is only trusted on outbound legs: FreeSWITCH exports it back
onto the calling leg too (the inbound trunk leg of a call to 101 ends with
``variable_dialed_user=101``). Identities must also match the configured
extension pattern, so a trunk that authenticates as a directory user
(``trunk1``) is not mistaken for an agent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..esl.protocol import Event
from ..settings.phones import sip_text

PLUMBING_PREFIXES = ("loopback/", "conference/", "eavesdrop", "error/")
USERFIELD_MAX = 1024  # characters kept of a captured variable (userfield, SIP header, Call-ID)


def _micros(value: str) -> float:
    """A FreeSWITCH microsecond timestamp as epoch seconds (0.0 when unset)."""
    try:
        return int(value) / 1_000_000
    except (TypeError, ValueError):
        return 0.0


def _int(value: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _split_user(presence_id: str) -> tuple[str, str]:
    user, _, domain = presence_id.partition("@")
    return user, domain


def identify_extension(event: Event, pattern: re.Pattern[str]) -> tuple[str, str]:
    """(extension, domain) when this leg belongs to a directory user, else ("", "").
    Candidates in order, each read only when the ones before do not match
    (a trunk leg asks this on every event)."""
    get = event.get
    if get("Call-Direction") == "outbound":
        user = get("variable_dialed_user")
        if user and pattern.match(user):
            return user, get("variable_dialed_domain")
        if not get("variable_sip_gateway_name"):
            user, domain = _split_user(get("variable_presence_id"))
            if user and pattern.match(user):
                return user, domain
        return "", ""
    user = get("variable_user_name")
    if user and pattern.match(user):
        return user, get("variable_domain_name")
    user = get("variable_sip_auth_username")
    if user and pattern.match(user):
        return user, get("variable_sip_auth_realm")
    return "", ""


@dataclass(slots=True)
class Leg:
    """What the tracker knows of one channel. Times are epoch seconds taken
    from FreeSWITCH's own timestamps, never from the connector's clock."""

    uuid: str
    callid: str
    name: str
    direction: str  # inbound | outbound (FreeSWITCH's view of this channel)
    extension: str = ""
    domain: str = ""
    caller_number: str = ""  # as FreeSWITCH gave it, made safe by ``sip_text`` (not normalised)
    destination: str = ""
    originator: str = ""  # the channel that caused this leg (bridge originator, queue member)
    created_at: float = 0.0
    created_local: str = ""  # Event-Date-Local of the first event: PBX local time
    ringing_at: float = 0.0
    answered_at: float = 0.0
    hungup: bool = False
    hangup_cause: str = ""
    start_epoch: int = 0
    answer_epoch: int = 0
    end_epoch: int = 0
    start_stamp: str = ""
    billsec: int = 0
    variables: dict[str, str] = field(default_factory=dict)
    last_seen: float = 0.0

    @property
    def is_extension(self) -> bool:
        return bool(self.extension)

    @property
    def is_plumbing(self) -> bool:
        return self.name.startswith(PLUMBING_PREFIXES)

    @property
    def is_external(self) -> bool:
        return not self.extension and not self.is_plumbing

    @property
    def answered(self) -> bool:
        return self.answered_at > 0 or self.answer_epoch > 0

    @property
    def number(self) -> str:
        """The far party's number on an external leg: the caller when it called
        us (inbound), the dialled number when we called it (outbound)."""
        return self.caller_number if self.direction == "inbound" else self.destination


@dataclass(slots=True)
class LegEnd:
    """How a leg ended, learnt other than from its CHANNEL_HANGUP_COMPLETE:
    from FreeSWITCH's CDR, or from a reconnect that found the channel gone
    (cause ``CONNECTOR_LOST_TRACK``, ``end_epoch`` = FreeSWITCH's clock then).
    Epochs are whole seconds as FreeSWITCH's ``*_epoch`` variables; 0 = unknown."""

    uuid: str
    hangup_cause: str
    end_epoch: int
    start_epoch: int = 0
    answer_epoch: int = 0
    billsec: int = 0
    variables: dict[str, str] = field(default_factory=dict)


def apply_end(leg: Leg, end: LegEnd) -> None:
    """Close ``leg`` with ``end``, keeping what the events already told."""
    leg.hungup, leg.hangup_cause = True, end.hangup_cause
    leg.end_epoch = end.end_epoch
    leg.start_epoch = end.start_epoch or leg.start_epoch or int(leg.created_at)
    if end.answer_epoch:
        leg.answer_epoch = end.answer_epoch
        leg.answered_at = leg.answered_at or float(end.answer_epoch)
    elif leg.answered and not leg.answer_epoch:
        leg.answer_epoch = int(leg.answered_at)
    leg.billsec = end.billsec or (max(0, leg.end_epoch - leg.answer_epoch) if leg.answer_epoch else 0)
    for name, value in end.variables.items():
        leg.variables.setdefault(name, value)


def leg_from_event(event: Event, pattern: re.Pattern[str]) -> Leg:
    """A new Leg from any channel event (normally CHANNEL_CREATE, but the
    connector may start mid-call and first see a later event)."""
    extension, domain = identify_extension(event, pattern)
    uuid = event.uuid
    return Leg(
        uuid=uuid,
        callid=event.get("Channel-Call-UUID") or event.var("call_uuid") or uuid,
        name=event.get("Channel-Name"),
        direction=event.get("Call-Direction") or event.var("direction") or "inbound",
        extension=extension,
        domain=domain,
        caller_number=sip_text(event.get("Caller-Caller-ID-Number")),
        destination=sip_text(event.get("Caller-Destination-Number")),
        originator=parent_uuid(event),
        created_at=_micros(event.get("Caller-Channel-Created-Time")) or event_time(event),
        created_local=event.get("Event-Date-Local"),
        last_seen=event_time(event),
    )


PARENT_VARIABLES = (
    "originator",              # B-legs of bridge/originate
    "cc_member_session_uuid",  # mod_callcenter agent legs: the queued caller's channel
    "other_loopback_leg_uuid",  # mod_loopback: the other half of the loopback pair
)


def parent_uuid(event: Event) -> str:
    """The channel that caused this leg, when FreeSWITCH says so."""
    for name in PARENT_VARIABLES:
        value = event.var(name)
        if value and value != event.uuid:
            return value
    return ""


def event_time(event: Event) -> float:
    return _micros(event.get("Event-Date-Timestamp"))


def apply_progress(leg: Leg, event: Event) -> None:
    if not leg.ringing_at and not leg.answered:
        leg.ringing_at = event_time(event)


def apply_answer(leg: Leg, event: Event) -> None:
    if not leg.answered_at:
        leg.answered_at = _micros(event.get("Caller-Channel-Answered-Time")) or event_time(event)


def apply_hangup_complete(leg: Leg, event: Event, keep_vars: tuple[str, ...]) -> None:
    """Final values from CHANNEL_HANGUP_COMPLETE (it carries every variable)."""
    leg.hungup = True
    leg.hangup_cause = event.get("Hangup-Cause") or event.var("hangup_cause")
    leg.start_epoch = _int(event.var("start_epoch"))
    leg.answer_epoch = _int(event.var("answer_epoch"))
    leg.end_epoch = _int(event.var("end_epoch"))
    leg.start_stamp = event.var("start_stamp")
    leg.billsec = _int(event.var("billsec"))
    if not leg.answered_at:
        leg.answered_at = _micros(event.get("Caller-Channel-Answered-Time"))
    if not leg.created_at:
        leg.created_at = _micros(event.get("Caller-Channel-Created-Time"))
    for name in keep_vars:
        value = event.var(name)
        if value:
            leg.variables[name] = sip_text(value, USERFIELD_MAX)
