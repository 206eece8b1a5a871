"""What the read side returns: plain dataclasses, never peewee model instances."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class StoredEvent:
    """One outbox row: a CRM event and where its delivery stands."""

    id: int
    event_id: str
    event_type: str
    callid: str
    extension: str
    domain: str
    params: dict
    occurred_at: float
    created_at: float
    status: str
    attempts: int
    next_attempt_at: float
    last_error: str
    delivered_at: float | None
    customer: str = ""  # the customer it was planned for; "" before its first attempt
    replayed_at: float = 0.0
    finished_at: float | None = None
    endpoint: str = ""  # the CRM endpoint(s) it is delivered to, space separated; "" before planned


@dataclass(slots=True)
class StoredCall:
    """A call as stored: the tracker's ``CallRecord`` fields plus storage's own."""

    callid: str
    node: str
    direction: str
    state: str
    phone: str
    extension: str
    domain: str
    extensions: list[str]
    started_at: float
    answered_at: float
    ended_at: float
    calldate: str
    status: str
    hangup_cause: str
    duration: int
    billsec: int
    recording: str
    recordings: list[str]
    userfield: str
    legs: list[str]
    params: dict  # CRM pass-through parameters (click-to-call)
    created_at: float
    updated_at: float
    end_source: str = ""  # "" (its events), lost_track or cdr: how its end became known
    events: list[StoredEvent] = field(default_factory=list)  # filled by get_call()


@dataclass(slots=True)
class StoredExtension:
    extension: str
    domain: str
    state: str
    node: str
    contact: str
    user_agent: str
    network_ip: str
    network_port: str
    expires_at: float
    callid: str
    updated_at: float
