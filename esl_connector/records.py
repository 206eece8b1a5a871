"""Plain data passed between layers: the call tracker produces these, storage
persists them, the delivery engine and the status API read them back.

Nothing here does I/O; every field is a plain value so a record can be
serialised to JSON as it is (``dataclasses.asdict``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# CRM event types, exactly as the contract names them (they are URL path parts).
INCOMING_CALL = "incoming_call"
OUTGOING_CALL = "outgoing_call"
CALL_LOG = "call_answered"
CRM_EVENT_TYPES = (INCOMING_CALL, OUTGOING_CALL, CALL_LOG)

# Call directions.
INBOUND = "inbound"          # from a trunk/external party to extension(s)
OUTBOUND = "outbound"        # an extension dials an external number
CLICK_TO_CALL = "click2call"  # originate rings the agent first, then the customer
INTERNAL = "internal"        # extension to extension only
UNKNOWN = "unknown"          # an extension is involved but nothing external yet

# Call-log dispositions (Asterisk style, as the contract expects).
ANSWERED = "ANSWERED"
NO_ANSWER = "NO ANSWER"
BUSY = "BUSY"
FAILED = "FAILED"

# How a call's end became known (``CallRecord.end_source``).
END_EVENTS = ""                # every leg's CHANNEL_HANGUP_COMPLETE was seen
END_LOST_TRACK = "lost_track"  # FreeSWITCH no longer had a leg whose hangup we never saw:
#                                closed at the reconnect with what is known (upper bounds)
END_CDR = "cdr"                # a leg's end figures came from FreeSWITCH's CDR
END_STRENGTH = {END_EVENTS: 0, END_CDR: 1, END_LOST_TRACK: 2}  # a call shows its least exact

# Extension states.
OFFLINE = "offline"
IDLE = "idle"
RINGING = "ringing"
IN_CALL = "in_call"


@dataclass(slots=True)
class CrmEvent:
    """One event the CRM must receive. ``params`` are the contract's fields
    (``phone, extension, callid`` for incoming/outgoing, the nine call-log
    fields for ``call_answered``), with their contract types."""

    event_type: str
    callid: str
    extension: str
    domain: str
    params: dict[str, str | int]
    occurred_at: float  # FreeSWITCH event time, epoch seconds


@dataclass(slots=True)
class CallRecord:
    """The current view of one call (all its legs), as storage keeps it."""

    callid: str
    direction: str
    state: str  # ringing | active | ended
    phone: str = ""
    extension: str = ""  # answering extension, else the last one rung
    domain: str = ""
    extensions: list[str] = field(default_factory=list)  # every extension rung/involved
    started_at: float = 0.0
    answered_at: float = 0.0
    ended_at: float = 0.0
    calldate: str = ""
    status: str = ""
    hangup_cause: str = ""
    duration: int = 0
    billsec: int = 0
    recording: str = ""
    recordings: list[str] = field(default_factory=list)
    userfield: str = ""
    node: str = ""  # the FreeSWITCH node's configured name ([[freeswitch]] node)
    legs: list[str] = field(default_factory=list)  # channel UUIDs
    end_source: str = END_EVENTS  # END_EVENTS | END_LOST_TRACK | END_CDR, once ended
    # What the tracker needs to take a live call up again after a restart
    # (``calls.call_state``); {} once the call has ended.
    tracker_state: dict = field(default_factory=dict)


@dataclass(slots=True)
class ExtensionRecord:
    """Presence of one extension: registration plus what its channels do."""

    extension: str
    domain: str
    state: str  # offline | idle | ringing | in_call
    node: str = ""  # the FreeSWITCH node it registers on: (node, domain, extension) is the key
    contact: str = ""
    user_agent: str = ""
    network_ip: str = ""
    network_port: str = ""
    expires_at: float = 0.0
    callid: str = ""
    updated_at: float = 0.0


@dataclass(slots=True)
class TrackerSnapshot:
    """What storage hands the tracker at start-up, as of the last commit:
    the ``tracker_state`` of every call not ended, every extension's
    presence, and the callids and leg uuids of recently ended calls (late
    events and lingering channels of those must not start them again)."""

    call_states: list[dict] = field(default_factory=list)
    extensions: list[ExtensionRecord] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)  # oldest first
    # Calls stored live by a version that kept no tracker state: they cannot be
    # taken up, only closed once FreeSWITCH no longer has their channels.
    unrestorable: list[CallRecord] = field(default_factory=list)


@dataclass(slots=True)
class Changes:
    """What one event (or a resync) changed: storage writes all of it in one
    transaction, so an outbox row never exists without its call and vice versa."""

    calls: list[CallRecord] = field(default_factory=list)
    crm_events: list[CrmEvent] = field(default_factory=list)
    extensions: list[ExtensionRecord] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.calls or self.crm_events or self.extensions)

    def extend(self, other: Changes) -> None:
        self.calls.extend(other.calls)
        self.crm_events.extend(other.crm_events)
        self.extensions.extend(other.extensions)
