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

from ..esl.protocol import Event
from ..esl.subscription import CHANNEL_EVENTS
from ..records import (
    CALL_LOG,
    CLICK_TO_CALL,
    INBOUND,
    INCOMING_CALL,
    INTERNAL,
    OUTBOUND,
    OUTGOING_CALL,
    CallRecord,
    Changes,
    CrmEvent,
)
from ..settings.phones import sip_text
from .call_model import CLICK2CALL_MARKER, Call, opens_loopback
from .call_records import call_record, crm_phone, inbound_phone, log_params, userfield_of
from .call_state import call_state
from .event_headers import tracker_headers
from .legs import (
    USERFIELD_MAX,
    Leg,
    apply_answer,
    apply_hangup_complete,
    apply_progress,
    event_time,
    identify_extension,
    leg_from_event,
)
from .originate_jobs import OriginateFailure, failure_record
from .outside_ends import OutsideEnds
from .tracker_settings import TrackerSettings, default_phone_rules

log = logging.getLogger(__name__)

RINGING_EVENTS = ("CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA")
LOST_TRACK_CAUSE = "CONNECTOR_LOST_TRACK"


class CallTracker(OutsideEnds):
    """Feed it channel events in arrival order; it returns what changed."""

    def __init__(self, settings: TrackerSettings | None = None):
        self.settings = settings or TrackerSettings()
        self._pattern = re.compile(self.settings.extension_pattern)
        self._rules = self.settings.phone_rules or default_phone_rules
        self._keep_vars = tuple(self.settings.userfield_variables)
        self.use_userfield_header(self.settings.userfield_header)
        self.calls: dict[str, Call] = {}
        self._leg_call: dict[str, str] = {}
        self._finished: OrderedDict[str, bool] = OrderedDict()  # key -> its call log went out
        self.last_call: Call | None = None  # the call the last handled event touched
        self._alias: dict[str, str] = {}  # callid of a call merged away -> the call it joined
        self._merged: list[CallRecord] = []
        self._known_before_hold: set[str] | None = None  # legs known when hold_new_calls began

    def use_userfield_header(self, name: str) -> None:
        """A reload changed the webphones' userfield header: calls from now on use it."""
        self.settings.userfield_header = name
        self._header_var = f"sip_h_{name}" if name else ""
        self._capture = (*self._keep_vars, *filter(None, [self._header_var]), "sip_call_id", "sip_via_protocol",
                         CLICK2CALL_MARKER)
        self._capture_headers = tuple((var, "variable_" + var) for var in self._capture)

    def event_headers(self) -> frozenset[str]:
        """Every event header this tracker reads (``event_headers``), with the
        variables its settings make it keep."""
        return tracker_headers(self._capture)

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
        # A leg without its creation time may get it now, which may change the root.
        direction = call.direction if not all(leg.created_at for leg in call.legs.values()) else None
        self._apply(event, call, leg)
        call = self.last_call
        call.hold_views()  # from here on its legs hold still
        try:
            self._notify(call, event, changes)
            if self._merged:
                changes.calls.extend(self._merged)
                self._merged.clear()
            if call.finished and not self._held(call):
                self._finish(call, changes)
            elif (changes.crm_events or self._signature(call) != before
                  or (direction is not None and call.direction != direction)) and call.direction:
                changes.calls.append(self.record(call))  # with its state: what it notified, too
        finally:
            call.release_views()
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
        call = Call(failure.callid)
        record = failure_record(failure, event, self._keep_vars)
        record.node = self.settings.node
        changes.calls.append(record)
        phone = crm_phone(call, record.phone, self._rules(record.extension, record.domain))
        changes.crm_events.append(CrmEvent(CALL_LOG, record.callid, record.extension, record.domain,
                                           log_params(record, phone), record.ended_at))
        return changes

    def hold_new_calls(self) -> None:
        """After a connect, until ``release_held()`` (the resync): a call with a
        leg first seen from now on is not finished by its hangups. A call
        already up when the connector subscribed may show one leg's hangup
        before its other legs (a lone agent leg: no direction, so no call
        log); the resync's channels, read meanwhile, add the others."""
        self._known_before_hold = set(self._leg_call)

    def release_held(self) -> Changes:
        """Finish the calls held whose legs have all hung up."""
        self._known_before_hold = None
        changes = Changes()
        for call in [call for call in self.calls.values() if call.finished]:
            self._finish(call, changes)
        return changes

    def _held(self, call: Call) -> bool:
        known = self._known_before_hold
        return known is not None and any(uuid not in known for uuid in call.legs)

    def active_calls(self) -> list[Call]:
        return list(self.calls.values())

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
            if opens_loopback(leg, self.calls[leg.callid]):
                self._rekey(self.calls[leg.callid], leg.uuid)
                leg.callid = leg.uuid
        if leg.callid in self._finished:
            log.debug("late leg %s of finished call %s ignored", uuid, leg.callid)
            return None, None
        call = self.calls.get(leg.callid)
        if call is None:
            call = self.calls[leg.callid] = Call(leg.callid, node=self.settings.node)
        call.legs[uuid] = leg
        self._leg_call[uuid] = leg.callid
        return call, leg

    def _rekey(self, call: Call, callid: str) -> None:
        """``call`` (which has produced nothing yet) is known as ``callid`` from now on."""
        del self.calls[call.callid]
        self._alias[call.callid] = callid
        call.callid = callid
        for leg in call.legs.values():
            leg.callid = self._leg_call[leg.uuid] = callid
        self.calls[callid] = call

    def _apply(self, event: Event, call: Call, leg: Leg) -> None:
        """What ``event`` tells of ``leg`` and ``call`` (``_notify`` then says
        what the CRM gets of it)."""
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
        variables = leg.variables
        for var, header in self._capture_headers:
            if var in variables:
                continue  # the first value seen is kept
            value = event.get(header)
            if value:
                variables[var] = sip_text(value, USERFIELD_MAX)
                if var in self._keep_vars:
                    call.userfield_set = True

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
                if (leg.direction == "outbound" and (leg.ringing_at or leg.answered)
                        and (INCOMING_CALL, leg.extension) not in call.notified):  # the phone only if new
                    self._emit_once(call, INCOMING_CALL, leg, inbound_phone(call, leg), event, changes)
        elif direction in (OUTBOUND, CLICK_TO_CALL):
            external = call.external_legs()
            if external:
                self._emit_once(call, OUTGOING_CALL, call.root, external[0].number, event, changes)

    def _emit_once(self, call: Call, kind: str, agent: Leg, raw_phone: str, event: Event,
                   changes: Changes) -> None:
        extension, domain = agent.extension, agent.domain
        key = (kind, extension)
        if key in call.notified:
            return
        call.notified.add(key)
        phone = crm_phone(call, raw_phone, self._rules(extension, domain))
        params = {"phone": phone, "extension": extension, "callid": call.callid}
        changes.crm_events.append(CrmEvent(kind, call.callid, extension, domain, params, event_time(event)))

    def _finish(self, call: Call, changes: Changes) -> None:
        direction = call.direction
        del self.calls[call.callid]
        if self._alias:
            for alias in [a for a, target in self._alias.items() if target == call.callid]:
                del self._alias[alias]
        logged = direction in (INBOUND, OUTBOUND, CLICK_TO_CALL)
        for uuid in call.legs:
            self._leg_call.pop(uuid, None)
            self._remember(uuid, logged)
        self._remember(call.callid, logged)
        if not direction:
            return
        record = self.record(call)
        changes.calls.append(record)
        if logged:
            phone = crm_phone(call, record.phone, self._rules(record.extension, record.domain))
            changes.crm_events.append(CrmEvent(CALL_LOG, call.callid, record.extension, record.domain,
                                               log_params(record, phone), record.ended_at))

    def _remember(self, key: str, logged: bool = True) -> None:
        """``key`` (a call or a leg) is over; ``logged``: a call log went out
        (the default: when unsure, never report a call twice)."""
        self._finished[key] = logged or self._finished.get(key, False)
        while len(self._finished) > self.settings.max_finished_remembered:
            self._finished.popitem(last=False)

    @staticmethod
    def _signature(call: Call) -> tuple:
        """What a stored call shows, in short: it differs after an event
        that changed the call's record. The call's direction is not derived
        here (``handle`` compares it only when a leg lacks its creation time):
        it is a function of the legs, their extension, their variables (which
        only grow; ``userfield_set`` follows them), their creation time (only
        ever set when unknown) and what a leg keeps from its creation on
        (name, direction, originator)."""
        legs = tuple([(leg.uuid, bool(leg.ringing_at), leg.answered, leg.hungup, leg.extension,
                       len(leg.variables)) for leg in call.legs.values()])
        return legs, len(call.recordings)

    def record(self, call: Call) -> CallRecord:
        """The storable view of a call, final once every leg has hung up;
        while it is live, with the state a restarted tracker takes up."""
        state = None
        if not call.finished:
            aliases = [a for a, target in self._alias.items() if target == call.callid] if self._alias else []
            state = call_state(call, aliases)
        return call_record(call, userfield_of(call, self._keep_vars, self._header_var, self.settings.webphone),
                           state)
