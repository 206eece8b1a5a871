"""Call tracker: FreeSWITCH channel events -> calls -> CRM events. Pure logic, no I/O.

A *call* is every leg sharing one ``Channel-Call-UUID``. FreeSWITCH gives a
B-leg its A-leg's ``call_uuid``, so all legs that one originating channel
spawned (ring-group members, the gateway leg, a blind-transfer target) share
it. The CRM ``callid`` is that UUID: the Unique-ID of the call's first leg (the
trunk leg of an inbound call, the extension's leg of an outbound call, the
agent leg of a click-to-call, whose ``origination_uuid`` the connector picks
before originating). It is known from the very first event of any leg, so it
is stable across every leg and every CRM event of the call, whatever order
the legs' events arrive in.

Classification, from the first leg (the *root*) and the legs seen so far:

* root is an external party (trunk)                 -> inbound
* root is an extension placing a call (inbound leg) -> outbound once an
  external leg appears, internal while only extensions are involved
* root is an extension rung by ``originate``        -> click-to-call
* no extension at all                                -> not a CRM call: nothing
  is emitted or stored (IVR-only calls, the recordings' fake-PSTN loop legs).

CRM events: ``incoming_call`` once per extension when its leg of an inbound
call starts ringing (CHANNEL_PROGRESS/PROGRESS_MEDIA, or CHANNEL_ANSWER for
auto-answer phones); ``outgoing_call`` when an outbound or click-to-call call
creates its external leg; the call log when the last leg's
CHANNEL_HANGUP_COMPLETE arrives (see ``call_log`` for the fields).
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from ..esl.protocol import Event
from ..esl.subscription import CHANNEL_EVENTS
from ..records import (
    CALL_LOG,
    CLICK_TO_CALL,
    END_STRENGTH,
    INBOUND,
    INCOMING_CALL,
    INTERNAL,
    OUTBOUND,
    OUTGOING_CALL,
    CallRecord,
    Changes,
    CrmEvent,
)
from ..settings.config import DEFAULT_EXTENSION_PATTERN
from .call_model import CLICK2CALL_MARKER, Call
from .call_records import call_record, log_params, phone_of, userfield_of
from .call_state import call_from_state, call_state
from .legs import (
    Leg,
    LegEnd,
    apply_answer,
    apply_end,
    apply_hangup_complete,
    apply_progress,
    event_time,
    identify_extension,
    leg_from_event,
)
from .originate_jobs import OriginateFailure, failure_record

log = logging.getLogger(__name__)

RINGING_EVENTS = ("CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA")
LOST_TRACK_CAUSE = "CONNECTOR_LOST_TRACK"


@dataclass(slots=True)
class TrackerSettings:
    extension_pattern: str = DEFAULT_EXTENSION_PATTERN
    # Channel variables whose value is the call's userfield (click-to-call sets crm_userfield).
    userfield_variables: tuple[str, ...] = ("crm_userfield",)
    # A custom SIP header a webphone may send with its INVITE (read as sip_h_<name>).
    userfield_header: str = "X-Userfield"
    # Which calling extensions are CRM webphones whose SIP Call-ID is the userfield:
    # webphone(extension, domain, sip_via_protocol) -> bool. None: no webphones.
    webphone: Callable[[str, str, str], bool] | None = None
    max_finished_remembered: int = 20000


class CallTracker:
    """Feed it channel events in arrival order; it returns what changed."""

    def __init__(self, settings: TrackerSettings | None = None):
        self.settings = settings or TrackerSettings()
        self._pattern = re.compile(self.settings.extension_pattern)
        self._keep_vars = tuple(self.settings.userfield_variables)
        self._header_var = f"sip_h_{self.settings.userfield_header}" if self.settings.userfield_header else ""
        self._capture = (*self._keep_vars, *filter(None, [self._header_var]), "sip_call_id", "sip_via_protocol",
                         CLICK2CALL_MARKER)
        self.calls: dict[str, Call] = {}
        self._leg_call: dict[str, str] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self.last_call: Call | None = None  # the call the last handled event touched
        self._alias: dict[str, str] = {}  # callid of a call merged away -> the call it joined
        self._merged: list[CallRecord] = []

    # -- public ---------------------------------------------------------
    def handle(self, event: Event) -> Changes:
        changes = Changes()
        self.last_call = None
        uuid = event.uuid
        if event.name not in CHANNEL_EVENTS or not uuid or uuid in self._finished:
            return changes
        call, leg = self._locate(event)
        if call is None:
            return changes
        self.last_call = call
        before = self._signature(call)
        self._apply(event, call, leg, changes)
        call = self.last_call
        if self._merged:
            changes.calls.extend(self._merged)
            self._merged.clear()
        if call.finished:
            self._finish(call, changes)
        elif (changes.crm_events or self._signature(call) != before) and call.direction:
            changes.calls.append(self.record(call))  # with its state: what it notified, too
        return changes

    def originate_failed(self, failure: OriginateFailure, event: Event) -> Changes:
        """A click-to-call whose agent channel was never created: its call log
        (FAILED, BUSY or NO ANSWER from the job's cause) is the only event."""
        changes = Changes()
        if failure.callid in self.calls or failure.callid in self._finished:
            return changes  # channels existed: their own events tell the story
        if not self._pattern.match(failure.extension):
            return changes
        self._remember(failure.callid)
        record = failure_record(failure, event, self._keep_vars)
        changes.calls.append(record)
        changes.crm_events.append(CrmEvent(CALL_LOG, record.callid, record.extension, record.domain,
                                           log_params(record), record.ended_at))
        return changes

    def active_calls(self) -> list[Call]:
        return list(self.calls.values())

    def end_legs(self, ends: dict[str, LegEnd], source: str) -> tuple[Changes, list[Leg]]:
        """Close live legs whose end was learnt other than from their events
        (``source``: records.END_LOST_TRACK or END_CDR). A call whose last
        leg this closes is finished: its call log goes out, marked with
        ``source`` (``CallRecord.end_source``). Returns the changes and the
        legs closed (for the extensions' presence)."""
        changes, closed = Changes(), []
        touched: dict[str, Call] = {}
        for uuid, end in ends.items():
            leg = self.leg(uuid)
            if leg is None or leg.hungup:
                continue
            apply_end(leg, end)
            closed.append(leg)
            call = touched[leg.callid] = self.calls[leg.callid]
            if END_STRENGTH.get(source, 0) > END_STRENGTH.get(call.end_source, 0):
                call.end_source = source
        for call in touched.values():
            if call.finished:
                self._finish(call, changes)
            elif call.direction:
                changes.calls.append(self.record(call))
        return changes, closed

    def restore(self, states: list[dict], finished: list[str]) -> list[Call]:
        """Take up the calls a previous run left live (``call_state`` dicts,
        as last committed) and the keys of recently finished calls. Call
        before the first event."""
        for key in finished:
            self._remember(key)
        restored = []
        for data in states:
            try:
                call, aliases = call_from_state(data)
            except (KeyError, TypeError, ValueError) as exc:
                log.error("cannot take up call %s from storage (%s); it is handled as a call "
                          "first seen now", data.get("callid", "?") if isinstance(data, dict) else "?", exc)
                continue
            if not call.legs or call.callid in self.calls:
                continue
            self.calls[call.callid] = call
            for key in (call.callid, *aliases, *call.legs):
                self._finished.pop(key, None)  # a merged call's legs live on here
            for uuid in call.legs:
                self._leg_call[uuid] = call.callid
            for alias in aliases:
                self._alias[alias] = call.callid
            restored.append(call)
        return restored

    def leg(self, uuid: str) -> Leg | None:
        callid = self._leg_call.get(uuid)
        return self.calls[callid].legs.get(uuid) if callid in self.calls else None

    # -- internals -------------------------------------------------------
    def _locate(self, event: Event) -> tuple[Call | None, Leg | None]:
        uuid = event.uuid
        callid = self._leg_call.get(uuid)
        if callid is not None:
            call = self.calls[callid]
            return call, call.legs[uuid]
        leg = leg_from_event(event, self._pattern)
        leg.callid = self._alias.get(leg.callid, leg.callid)
        if leg.callid not in self.calls and leg.callid in self._leg_call:
            leg.callid = self._leg_call[leg.callid]  # its call_uuid names a leg of another call
        if leg.callid == leg.uuid and leg.originator in self._leg_call:
            # Originated without a session (mod_callcenter's agent legs): it
            # still belongs to the call of the channel that caused it.
            leg.callid = self._leg_call[leg.originator]
        if leg.callid in self._finished:
            log.debug("late leg %s of finished call %s ignored", uuid, leg.callid)
            return None, None
        call = self.calls.get(leg.callid)
        if call is None:
            call = self.calls[leg.callid] = Call(leg.callid, node=event.get("Core-UUID"))
        call.legs[uuid] = leg
        self._leg_call[uuid] = leg.callid
        return call, leg

    def _apply(self, event: Event, call: Call, leg: Leg, changes: Changes) -> None:
        name = event.name
        leg.last_seen = event_time(event) or leg.last_seen
        if not leg.extension:
            leg.extension, leg.domain = identify_extension(event, self._pattern)
        if name in RINGING_EVENTS:
            apply_progress(leg, event)
        elif name == "CHANNEL_ANSWER":
            apply_answer(leg, event)
        elif name == "CHANNEL_HANGUP_COMPLETE":
            apply_hangup_complete(leg, event, self._capture)
        elif name == "CHANNEL_BRIDGE":
            self._join_bridged(call, event)
        elif name == "RECORD_START":
            path = event.get("Record-File-Path")
            if path and path not in call.recordings:
                call.recordings.append(path)
        for var in self._capture:
            value = event.var(var)
            if value and var not in leg.variables:
                leg.variables[var] = value
                if var in self._keep_vars:
                    call.userfield_set = True
        self._notify(self.last_call, event, changes)

    def _join_bridged(self, call: Call, event: Event) -> None:
        """A bridge between two calls (attended transfer, ``uuid_bridge``,
        queue/fifo): an internal call that has produced nothing yet joins the
        customer's call, so its agents count for that call's CRM events."""
        for uuid in (event.get("Bridge-A-Unique-ID"), event.get("Bridge-B-Unique-ID"),
                     event.get("Other-Leg-Unique-ID")):
            other_id = self._leg_call.get(uuid)
            if other_id is None or other_id == call.callid:
                continue
            other = self.calls[other_id]
            for donor, recipient in ((other, call), (call, other)):
                if (not donor.notified and not donor.external_legs()
                        and recipient.direction in (INBOUND, OUTBOUND, CLICK_TO_CALL)):
                    self._merge(donor, recipient)
                    return

    def _merge(self, donor: Call, recipient: Call) -> None:
        for uuid, leg in donor.legs.items():
            leg.callid = recipient.callid
            recipient.legs[uuid] = leg
            self._leg_call[uuid] = recipient.callid
        recipient.recordings.extend(p for p in donor.recordings if p not in recipient.recordings)
        del self.calls[donor.callid]
        self._alias[donor.callid] = recipient.callid
        self.last_call = recipient
        self._merged.append(CallRecord(  # closes the stored internal call; its legs live on
            callid=donor.callid, direction=INTERNAL, state="ended", hangup_cause="MERGED",
            node=donor.node, legs=list(donor.legs), started_at=min(leg.created_at for leg in donor.legs.values())))

    def _notify(self, call: Call, event: Event, changes: Changes) -> None:
        """Emit what the call's legs now warrant. Re-checked on every event, so
        a leg whose call was only classified later (legs arriving out of
        order, a reconnect) still gets its event; ``_emit_once`` dedups."""
        direction = call.direction
        if direction == INBOUND:
            for leg in call.extension_legs():
                if leg.direction == "outbound" and (leg.ringing_at or leg.answered):
                    self._emit_once(call, INCOMING_CALL, leg.extension, leg.domain, phone_of(call), event, changes)
        elif direction in (OUTBOUND, CLICK_TO_CALL):
            external = call.external_legs()
            if external:
                root = call.root
                self._emit_once(call, OUTGOING_CALL, root.extension, root.domain, external[0].number, event, changes)

    def _emit_once(self, call: Call, kind: str, extension: str, domain: str,
                   phone: str, event: Event, changes: Changes) -> None:
        key = (kind, extension)
        if key in call.notified:
            return
        call.notified.add(key)
        params = {"phone": phone, "extension": extension, "callid": call.callid}
        changes.crm_events.append(CrmEvent(kind, call.callid, extension, domain, params, event_time(event)))

    def _finish(self, call: Call, changes: Changes) -> None:
        direction = call.direction
        del self.calls[call.callid]
        if self._alias:
            for alias in [a for a, target in self._alias.items() if target == call.callid]:
                del self._alias[alias]
        for uuid in call.legs:
            self._leg_call.pop(uuid, None)
            self._remember(uuid)
        self._remember(call.callid)
        if not direction:
            return
        record = self.record(call)
        changes.calls.append(record)
        if direction in (INBOUND, OUTBOUND, CLICK_TO_CALL):
            changes.crm_events.append(CrmEvent(CALL_LOG, call.callid, record.extension, record.domain,
                                               log_params(record), record.ended_at))

    def _remember(self, key: str) -> None:
        self._finished[key] = None
        while len(self._finished) > self.settings.max_finished_remembered:
            self._finished.popitem(last=False)

    @staticmethod
    def _signature(call: Call) -> tuple:
        legs = tuple((leg.uuid, bool(leg.ringing_at), leg.answered, leg.hungup, leg.extension,
                      len(leg.variables)) for leg in call.legs.values())
        return (call.direction, legs,
                len(call.recordings))

    def record(self, call: Call) -> CallRecord:
        """The storable view of a call, final once every leg has hung up;
        while it is live, with the state a restarted tracker takes up."""
        state = None
        if not call.finished:
            aliases = [a for a, target in self._alias.items() if target == call.callid] if self._alias else []
            state = call_state(call, aliases)
        return call_record(call, userfield_of(call, self._keep_vars, self._header_var, self.settings.webphone),
                           state)
