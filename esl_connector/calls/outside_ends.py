"""What the call tracker learns other than from a call's own events: the calls
a previous run left live (restart recovery), legs whose end became known at a
reconnect or from a CDR, and a CDR's final view of a leg.

Mixed into ``CallTracker``, whose call table (``calls``, ``_leg_call``,
``_alias``, ``_finished``) and event path (``_apply``, ``_finish``,
``record``) it uses; kept apart so that file stays about events.
"""

from __future__ import annotations

import logging

from ..esl.protocol import Event
from ..records import END_CDR, END_STRENGTH, Changes
from .call_model import Call
from .call_state import call_from_state
from .legs import Leg, LegEnd, apply_end, leg_from_event

log = logging.getLogger(__name__)


class OutsideEnds:
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

    # -- a leg's final state from its CDR (cdr_tracker) ----------------------
    def open_call(self, uuid: str, callid: str) -> Call | None:
        """The open call a leg belongs to, found by the leg or by its call's UUID."""
        key = self._leg_call.get(uuid) or self._alias.get(callid, callid)
        if key not in self.calls:
            key = self._leg_call.get(key, key)
        return self.calls.get(key)

    def is_finished(self, key: str) -> bool:
        """True once the call (or leg) with this UUID was closed."""
        return key in self._finished

    def was_logged(self, key: str) -> bool:
        """True once the call (or leg) with this UUID was closed with a call log."""
        return self._finished.get(key, False)

    def apply_final(self, call: Call, event: Event) -> Leg:
        """A leg's CHANNEL_HANGUP_COMPLETE from outside the event stream (a
        CDR): added to ``call`` if new, never a CRM notification."""
        leg = call.legs.get(event.uuid)
        if leg is None:
            leg = leg_from_event(event, self._pattern)
            leg.callid = call.callid
            call.legs[leg.uuid] = leg
            if call.callid in self.calls:
                self._leg_call[leg.uuid] = call.callid
        ended_before = leg.hungup
        self._apply(event, call, leg)
        if not ended_before and END_STRENGTH[END_CDR] > END_STRENGTH.get(call.end_source, 0):
            call.end_source = END_CDR  # this leg's end is known from its CDR, not its events
        call.userfield_set = call.userfield_set or any(leg.variables.get(v) for v in self._keep_vars)
        return leg

    def settle(self, call: Call, reported: bool = False) -> Changes:
        """After ``apply_final``: a finished call is closed (its call log, unless
        ``reported``: already produced once); an open one is stored as it is."""
        changes = Changes()
        if call.callid not in self.calls and not reported:
            self.calls[call.callid] = call
            self._leg_call.update((uuid, call.callid) for uuid in call.legs)
        if reported:
            for key in (*call.legs, call.callid):
                self._remember(key)
        elif call.finished:
            self._finish(call, changes)
        elif call.direction:
            changes.calls.append(self.record(call))
        return changes
