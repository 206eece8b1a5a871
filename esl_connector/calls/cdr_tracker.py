"""CDRs into the call tracker: the second source of truth for ended calls. Pure.

For each leg's CDR (``CdrLeg``), in this order:

1. its call is **open** in the tracker (the Event Socket saw it start, then
   the connector lost the connection or restarted before its hangup): the
   CDR is that leg's CHANNEL_HANGUP_COMPLETE. When every leg of the call has
   hung up, the call log is produced as usual, once;
2. its call was already **reported** (closed by the Event Socket, or by
   earlier CDRs, or the caller says a stored call ended): nothing is sent;
   once its CDRs are complete the CDR view is returned in
   ``CdrResult.reported`` so storage can correct the stored call;
3. otherwise the call is **unknown** (it started and ended while the
   connector was away): the leg waits in ``PendingCalls`` until the call is
   complete, then the call is closed from its CDR legs: stored, and its call
   log produced (never ``incoming_call``/``outgoing_call``: it is over).

Which fields each source wins is in docs/cdr.md.
"""

from __future__ import annotations

from .call_model import Call
from .call_tracker import CallTracker
from .cdr import CdrLeg
from .cdr_calls import DEFAULT_COMPLETE_AFTER, CdrResult, PendingCall, PendingCalls

DEFAULT_RECORDING_VARIABLES = ("recording_file", "record_file_path")


class CdrTracker:
    def __init__(self, calls: CallTracker, complete_after: float = DEFAULT_COMPLETE_AFTER,
                 recording_variables: tuple[str, ...] = DEFAULT_RECORDING_VARIABLES):
        self.calls = calls
        self.pending = PendingCalls(complete_after)
        self.recording_variables = tuple(recording_variables)

    def handle(self, leg: CdrLeg, now: float, reported: bool = False) -> CdrResult:
        """One leg's CDR. ``reported``: storage already has this call ended."""
        call = self.calls.open_call(leg.uuid, leg.callid)
        if call is not None:
            self._apply(call, leg)
            return CdrResult(self.calls.settle(call), done=[leg.uuid])
        reported = reported or self.calls.was_logged(leg.callid) or self.calls.was_logged(leg.uuid)
        ready = self.pending.add(leg, now, reported)
        return self._close(ready) if ready is not None else CdrResult()

    def tick(self, now: float) -> CdrResult:
        """Close the calls whose CDRs are complete or stopped coming (``complete_after``)."""
        result = CdrResult()
        for pending in self.pending.due(now):
            result.extend(self._close(pending))
        return result

    def waiting(self) -> int:
        return sum(len(call.legs) for call in self.pending.calls.values())

    def _apply(self, call: Call, leg: CdrLeg) -> None:
        tracked = self.calls.apply_final(call, leg.hangup_event())
        if leg.progress_uepoch and not tracked.ringing_at and not tracked.answered_at:
            tracked.ringing_at = leg.progress_uepoch / 1_000_000
        for name in self.recording_variables:
            path = leg.variables.get(name, "")
            if path and path not in call.recordings:
                call.recordings.append(path)

    def _close(self, pending: PendingCall) -> CdrResult:
        legs = sorted(pending.legs.values(), key=lambda leg: (leg.start_uepoch, leg.uuid))
        done = [leg.uuid for leg in legs]
        open_call = self.calls.open_call(pending.callid, pending.callid)
        if open_call is not None:  # a resync found its live legs meanwhile
            for leg in legs:
                self._apply(open_call, leg)
            return CdrResult(self.calls.settle(open_call), done=done)
        call = Call(pending.callid, node=self.calls.settings.node)
        for leg in legs:
            self._apply(call, leg)
        reported = pending.reported or self.calls.was_logged(pending.callid)
        if reported:
            self.calls.settle(call, reported=True)
            return CdrResult(reported=[self.calls.record(call)] if call.direction else [], done=done)
        return CdrResult(self.calls.settle(call), done=done)
