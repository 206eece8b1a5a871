"""The whole of the connector's view of FreeSWITCH: calls and extensions.

``Tracker.handle(event)`` is the single entry point for events (pure, no I/O);
``Tracker.resync(...)`` rebuilds state after a (re)connect from FreeSWITCH's
``show registrations`` and ``show channels`` answers.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace

from ..esl.protocol import Event
from ..records import END_CDR, END_LOST_TRACK, CallRecord, Changes, TrackerSnapshot
from .call_tracker import LOST_TRACK_CAUSE, CallTracker, TrackerSettings
from .cdr import CdrLeg
from .cdr_calls import CdrResult
from .cdr_tracker import CdrTracker
from .extensions import REGISTRATION_SUBCLASSES, ExtensionTracker
from .legs import LegEnd
from .originate_jobs import failed_originate

log = logging.getLogger(__name__)


def parse_rows(api_body: str) -> list[dict]:
    """Rows of a ``show ... as json`` answer. FreeSWITCH answers
    ``{"row_count": 0}`` (no rows key) when empty, and ``-ERR ...`` on error."""
    body = api_body.strip()
    if not body.startswith("{"):
        raise ValueError(f"not a JSON table: {body[:80]!r}")
    data = json.loads(body)
    rows = data.get("rows") or []
    return [row for row in rows if isinstance(row, dict)]


def event_from_channel_row(row: dict, now: float) -> Event:
    """A synthetic CHANNEL_CREATE for a ``show channels`` row we did not know."""
    direction = row.get("direction", "")
    user, _, domain = (row.get("presence_id") or "").partition("@")
    headers = {
        "Event-Name": "CHANNEL_CREATE", "Unique-ID": row.get("uuid", ""),
        "Channel-Name": row.get("name", ""), "Call-Direction": direction,
        "Channel-Call-UUID": row.get("call_uuid") or row.get("uuid", ""),
        "Caller-Caller-ID-Number": row.get("cid_num", ""),
        "Caller-Destination-Number": row.get("dest", ""),
        "Caller-Channel-Created-Time": str(int(float(row.get("created_epoch") or 0) * 1_000_000)),
        "Event-Date-Local": row.get("created", ""),
        "Event-Date-Timestamp": str(int(now * 1_000_000)),
        "variable_presence_id": row.get("presence_id", ""),
    }
    if direction == "inbound" and user:
        headers["variable_user_name"], headers["variable_domain_name"] = user, domain
    return Event(headers)


@dataclass(slots=True)
class ResyncResult:
    changes: Changes
    known_legs: int
    discovered_legs: int
    lost_legs: int


class Tracker:
    def __init__(self, settings: TrackerSettings | None = None):
        self.calls = CallTracker(settings)
        self.extensions = ExtensionTracker(self.calls.settings.node)
        settings = self.calls.settings
        self.cdrs = CdrTracker(self.calls, settings.cdr_complete_after, settings.cdr_recording_variables)
        self.events_seen = 0
        self._touched_legs: set[str] | None = None  # legs with events since begin_snapshot
        self._unrestorable: list[CallRecord] = []  # stored live without a state (older versions)

    def restore(self, snapshot: TrackerSnapshot) -> int:
        """Take up what a previous run committed (before the first event and
        the first resync): live calls with their legs and the CRM events they
        already produced, presence, recently finished calls. The resync after
        connecting then tells, per restored leg, whether it is still live or
        ended while the connector was away. Returns the calls taken up."""
        self.extensions.restore(snapshot.extensions)
        calls = self.calls.restore(snapshot.call_states, snapshot.finished)
        for call in calls:
            self.extensions.legs_changed(list(call.legs.values()), call.callid)
        self._unrestorable = list(snapshot.unrestorable)
        if self._unrestorable:
            log.warning("%d calls stored as live by a version that kept no tracker state cannot be "
                        "taken up; they are closed, without a call log, once FreeSWITCH no longer has "
                        "them: %s", len(self._unrestorable), ", ".join(r.callid for r in self._unrestorable[:10]))
        log.info("took up %d live calls and %d extensions from storage", len(calls), len(snapshot.extensions))
        return len(calls)

    def end_legs(self, ends: dict[str, LegEnd], source: str = END_CDR) -> Changes:
        """Close live legs with end figures learnt elsewhere (FreeSWITCH's CDR
        of a call whose hangup events were missed): their calls get their call
        log marked with ``source``. Legs unknown or already ended are ignored."""
        changes, closed = self.calls.end_legs(ends, source)
        for leg in closed:
            changes.extensions.extend(self.extensions.legs_changed([leg], leg.callid))
        return changes

    def event_headers(self) -> frozenset[str]:
        """Every event header ``handle`` reads (for decoding just these)."""
        return self.calls.event_headers()

    def begin_snapshot(self, connecting: bool = False) -> None:
        """Call before asking FreeSWITCH for the state ``resync`` will get:
        what happens from here on is newer than that answer and must win.
        ``connecting``: before the subscription's first events, when calls
        already up are not known yet: they are held open until the resync
        (``CallTracker.hold_new_calls``)."""
        self._touched_legs = set()
        self.extensions.touched = set()
        if connecting:
            self.calls.hold_new_calls()

    def handle(self, event: Event) -> Changes:
        self.events_seen += 1
        if self._touched_legs is not None and event.uuid:
            self._touched_legs.add(event.uuid)
        if event.name == "CUSTOM":
            changes = Changes()
            if event.subclass in REGISTRATION_SUBCLASSES:
                record = self.extensions.handle_registration(event)
                if record is not None:
                    changes.extensions.append(record)
            return changes
        if event.name == "BACKGROUND_JOB":
            failure = failed_originate(event)
            return self.calls.originate_failed(failure, event) if failure else Changes()
        changes = self.calls.handle(event)
        call = self.calls.last_call
        if call is not None:
            changes.extensions.extend(self.extensions.legs_changed(list(call.legs.values()), call.callid))
        return changes

    def handle_cdr(self, leg: CdrLeg, now: float, reported: bool = False) -> CdrResult:
        """One leg's CDR (``cdr_tracker``). ``now``: the caller's clock, only used
        to wait ``cdr_complete_after`` for a call's other legs; ``reported``:
        storage already holds this call as ended."""
        call = self.calls.open_call(leg.uuid, leg.callid)
        result = self.cdrs.handle(leg, now, reported)
        if call is not None:
            result.changes.extensions.extend(self.extensions.legs_changed(list(call.legs.values()), call.callid))
        return result

    def cdr_tick(self, now: float) -> CdrResult:
        """Close the CDR-only calls whose legs are all in, or stopped coming."""
        return self.cdrs.tick(now)

    def resync(self, registrations: list[dict], channels: list[dict], now: float,
               grace: float = 0.0, ends: dict[str, LegEnd] | None = None) -> ResyncResult:
        """Align with FreeSWITCH after a (re)connect.

        ``channels`` must be taken *after* the event subscription is active,
        so any channel missing from it either ended while we were away or is
        too new for FreeSWITCH's (asynchronously updated) channel table; the
        latter already produced events, which is why legs with events since
        ``begin_snapshot`` are never declared lost, and registrations with
        events since then keep what those events said. ``grace``: legs
        whose last event is more recent than this (FreeSWITCH time) are kept
        too, for audits while connected, when the table may lag new channels.
        ``ends``: end figures known for legs (from CDRs, by uuid): a gone leg
        found there is closed with them, any other gone leg with what is known
        (cause ``CONNECTOR_LOST_TRACK`` at ``now``).
        """
        changes = Changes()
        touched_legs = self._touched_legs or set()
        keep = self.extensions.touched or set()
        self._touched_legs = self.extensions.touched = None
        changes.extensions.extend(self.extensions.load_registrations(registrations, now, keep))
        alive = {row.get("uuid") for row in channels}
        known = {uuid for call in self.calls.active_calls() for uuid in call.legs}
        discovered = 0
        roots_first = sorted(channels, key=lambda r: (r.get("call_uuid") not in ("", r.get("uuid")),
                                                      r.get("created_epoch", "")))
        for row in roots_first:
            if row.get("uuid") and row["uuid"] not in known:
                discovered += 1
                changes.extend(self.handle(event_from_channel_row(row, now)))
                self._apply_row_state(row, now, changes)
        lost = {u for u in known - alive if u not in touched_legs
                and (leg := self.calls.leg(u)) is not None and leg.last_seen <= now - grace}
        known_ends = {uuid: ends[uuid] for uuid in lost if ends and uuid in ends}
        changes.extend(self.end_legs(known_ends, END_CDR))
        changes.extend(self.end_legs({uuid: LegEnd(uuid, LOST_TRACK_CAUSE, int(now))
                                      for uuid in lost - set(known_ends)}, END_LOST_TRACK))
        changes.extend(self.calls.release_held())
        if self._unrestorable:
            changes.calls.extend(self._close_unrestorable(alive | touched_legs, now))
        log.info("resync: %d known legs, %d discovered, %d lost while disconnected",
                 len(known), discovered, len(lost))
        return ResyncResult(changes, len(known), discovered, len(lost))

    def _close_unrestorable(self, alive: set[str], now: float) -> list[CallRecord]:
        """Calls an older version left live, whose channels FreeSWITCH no longer
        has: stored as ended (lost track). Their call log was lost by that
        version; none is made up now, as their end could be days ago."""
        closed, kept = [], []
        for record in self._unrestorable:
            if record.callid in self.calls.calls or any(uuid in alive for uuid in record.legs):
                kept.append(record)  # live: its own events (or a later audit) close it
                continue
            closed.append(replace(record, state="ended", ended_at=now, end_source=END_LOST_TRACK,
                                  hangup_cause=LOST_TRACK_CAUSE))
        self._unrestorable = [r for r in kept if r.callid not in self.calls.calls]
        if closed:
            log.warning("closed %d calls left live by an older version (no call log): %s",
                        len(closed), ", ".join(r.callid for r in closed[:10]))
        return closed

    def _apply_row_state(self, row: dict, now: float, changes: Changes) -> None:
        callstate = row.get("callstate", "")
        name = {"ACTIVE": "CHANNEL_ANSWER", "HELD": "CHANNEL_ANSWER",
                "RINGING": "CHANNEL_PROGRESS", "EARLY": "CHANNEL_PROGRESS"}.get(callstate)
        if name:
            event = event_from_channel_row(row, now)
            event.headers["Event-Name"] = name
            changes.extend(self.handle(event))
