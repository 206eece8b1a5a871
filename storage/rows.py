"""Turning the tracker's ``Changes`` into table rows, without any I/O.

``snapshot`` copies a ``Changes`` at submit time (the tracker may keep
mutating its records), ``collapse`` merges queued snapshots into one batch
where the last version of each call and extension wins and every CRM event
keeps its submit order.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, fields
from operator import attrgetter

from esl_connector.records import CallRecord, Changes, CrmEvent, ExtensionRecord

from .models import PENDING

CALL_FIELDS = tuple(f.name for f in fields(CallRecord))
EXTENSION_FIELDS = tuple(f.name for f in fields(ExtensionRecord))
_CALL_LISTS = ("extensions", "recordings", "legs")
_call_values = attrgetter(*CALL_FIELDS)
_extension_values = attrgetter(*EXTENSION_FIELDS)


@dataclass(slots=True)
class Pending:
    """One submitted ``Changes``, copied into rows, waiting to be committed."""

    seq: int
    submitted: float  # time.monotonic() at submit, for latency figures
    calls: list[dict]
    extensions: list[dict]
    events: list[dict]

    @property
    def rows(self) -> int:
        return len(self.calls) + len(self.extensions) + len(self.events)


@dataclass(slots=True)
class Batch:
    """What one transaction writes."""

    calls: list[dict] = field(default_factory=list)
    extensions: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.calls) + len(self.extensions) + len(self.events)


def call_row(record: CallRecord, now: float) -> dict:
    row = dict(zip(CALL_FIELDS, _call_values(record)))
    for name in _CALL_LISTS:
        row[name] = list(row[name])
    row["created_at"] = now  # kept from the first insert: the upsert never updates it
    row["updated_at"] = now
    return row


def extension_row(record: ExtensionRecord, now: float) -> dict:
    row = dict(zip(EXTENSION_FIELDS, _extension_values(record)))
    row["updated_at"] = record.updated_at or now
    return row


def outbox_row(event: CrmEvent, now: float) -> dict:
    return {
        "event_id": uuid.uuid4().hex,  # fixed now, so a retried batch cannot duplicate it
        "event_type": event.event_type,
        "callid": event.callid,
        "extension": event.extension,
        "domain": event.domain,
        "params": dict(event.params),
        "occurred_at": event.occurred_at,
        "created_at": now,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": "",
    }


OUTBOX_COLUMNS = ("event_id", "event_type", "callid", "extension", "domain", "params", "occurred_at",
                  "created_at", "status", "attempts", "next_attempt_at", "last_error")


def snapshot(changes: Changes, seq: int, now: float, submitted: float) -> Pending:
    return Pending(
        seq=seq,
        submitted=submitted,
        calls=[call_row(c, now) for c in changes.calls],
        extensions=[extension_row(e, now) for e in changes.extensions],
        events=[outbox_row(e, now) for e in changes.crm_events],
    )


def collapse(pending: list[Pending]) -> Batch:
    """Merge snapshots (in submit order): latest call/extension version wins."""
    calls: dict[str, dict] = {}
    extensions: dict[tuple[str, str, str], dict] = {}
    batch = Batch()
    for item in pending:
        for row in item.calls:
            previous = calls.get(row["callid"])
            if previous is not None:
                row = {**row, "created_at": previous["created_at"]}
            calls[row["callid"]] = row
        for row in item.extensions:
            extensions[(row["node"], row["domain"], row["extension"])] = row
        batch.events.extend(item.events)
    batch.calls = list(calls.values())
    batch.extensions = list(extensions.values())
    return batch
