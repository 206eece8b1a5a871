"""CDR legs waiting for the rest of their call. Pure: times are passed in.

mod_json_cdr sends one CDR per leg, each when its channel is destroyed, so a
call's legs arrive one by one, in no guaranteed order. A call known only from
CDRs (it started and ended while the connector was away) is **complete** when

* the CDR of its first leg (``uuid == call_uuid``, the callid) is in, and
  every leg the received CDRs name (``originated_legs``, ``bridge_uuid``,
  ``originator``, the callflow's originator/originatee profiles...) is in
  too, or has been seen in another call's CDRs; or
* ``complete_after`` seconds have passed since the last CDR of the call
  arrived (a leg FreeSWITCH does not log, ``log-b-leg=false``, a leg named
  across calls by ``uuid_bridge``...).

Then the tracker closes the call from its legs, with the same rules as the
Event Socket's legs (``call_log``, ``call_records``).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from ..records import CallRecord, Changes
from .cdr import CdrLeg

DEFAULT_COMPLETE_AFTER = 10.0
SEEN_LEGS_REMEMBERED = 20000


@dataclass(slots=True)
class PendingCall:
    callid: str
    legs: dict[str, CdrLeg] = field(default_factory=dict)
    last_at: float = 0.0  # connector clock: when its last CDR arrived
    reported: bool = False  # its call log was already produced (Event Socket, earlier run)


@dataclass(slots=True)
class CdrResult:
    """What one CDR (or a tick) did.

    ``changes``: for storage (a call closed from CDRs: its record and call
    log). ``reported``: records built from CDRs of calls whose call log had
    already been produced: never sent again, storage may correct the stored
    call with them (docs/cdr.md). ``done``: leg UUIDs whose CDR is now fully
    used (the rest are waiting for their call to complete)."""

    changes: Changes = field(default_factory=Changes)
    reported: list[CallRecord] = field(default_factory=list)
    done: list[str] = field(default_factory=list)

    def extend(self, other: CdrResult) -> None:
        self.changes.extend(other.changes)
        self.reported.extend(other.reported)
        self.done.extend(other.done)


class PendingCalls:
    """Calls known only from CDRs, until they are complete."""

    def __init__(self, complete_after: float = DEFAULT_COMPLETE_AFTER):
        self.complete_after = complete_after
        self.calls: dict[str, PendingCall] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()

    def add(self, leg: CdrLeg, now: float, reported: bool) -> PendingCall | None:
        """Keep ``leg``; return its call, removed, if that completed it."""
        call = self.calls.setdefault(leg.callid, PendingCall(leg.callid))
        call.legs[leg.uuid] = leg
        call.last_at = now
        call.reported = call.reported or reported
        self._saw(leg.uuid)
        return self.calls.pop(leg.callid) if self.complete(call) else None

    def complete(self, call: PendingCall) -> bool:
        if call.callid not in call.legs:
            return False
        named = {uuid for leg in call.legs.values() for uuid in leg.references}
        return all(uuid in call.legs or uuid in self._seen for uuid in named)

    def due(self, now: float) -> list[PendingCall]:
        """Calls whose last CDR is ``complete_after`` old (removed), or completed
        by a leg another call's CDR brought since."""
        ready = [call for call in self.calls.values()
                 if now - call.last_at >= self.complete_after or self.complete(call)]
        for call in ready:
            del self.calls[call.callid]
        return ready

    def _saw(self, uuid: str) -> None:
        self._seen[uuid] = None
        while len(self._seen) > SEEN_LEGS_REMEMBERED:
            self._seen.popitem(last=False)
