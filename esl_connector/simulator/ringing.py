"""Ringing extensions from a bridging leg: ``bridge user/101`` (or a ring group).

``Ringer`` creates one agent leg per registered extension, rings them all at
once and plays each phone's behaviour on the call's timeline until one
answers (the others lose the race), all reject (USER_BUSY), ``call_timeout``
expires (NO_ANSWER), or the caller cancels / the call is killed.
"""

from __future__ import annotations

from dataclasses import dataclass

from .calls import Call
from .legs import Leg, Profile
from .model import ANSWER, BUSY, Extension
from .outcomes import callee_vars


@dataclass
class RingResult:
    outcome: str  # answered | no_answer | busy | cancel | failed
    winner: Leg | None = None
    last: Leg | None = None  # the leg whose cause the caller leg reports


def agent_leg(call: Call, ext: Extension, a: Leg | None, kind: str = "agent",
              cid: tuple[str, str] | None = None, context: str = "default",
              leg_uuid: str | None = None) -> Leg:
    """The outbound ``sofia/internal/<contact>`` leg that rings ``ext``."""
    name, number = cid or (a.profile.cid_name, a.profile.cid_num)
    profile = Profile(direction="outbound", cid_name=name, cid_num=number,
                      dest=ext.contact_user, context=a.profile.context if a else context,
                      username=a.profile.username if a else None,
                      dialplan="XML" if a else None, network_addr="127.0.0.1" if a else "",
                      callee_name="Outbound Call", callee_num=ext.contact_user)
    leg = Leg(kind, f"sofia/internal/{ext.contact_user}@127.0.0.1:{ext.network_port}", profile,
              {}, presence_id=f"{ext.number}@{ext.domain}", extension=ext.number)
    if leg_uuid:
        leg.uuid = leg.call_uuid = leg_uuid
    if a is not None:
        leg.call_uuid = a.uuid
        leg.set_other(a, "originator")
        leg.vars.update(originator=a.uuid, originating_leg_uuid=a.uuid)
    call.add_leg(f"agent:{ext.number}", leg)
    call.ext_leg_context(leg, ext)
    return leg


class Ringer:
    """Ring ``extensions`` for the bridging leg ``a`` of ``call``."""

    def __init__(self, call: Call, a: Leg, extensions: list[Extension], timeout: float,
                 cancel_after: float | None = None):
        self.call, self.a, self.timeout, self.cancel_after = call, a, timeout, cancel_after
        self.extensions = [e for e in extensions if e.registered]
        self.ringing: dict[str, Leg] = {}

    def start(self) -> None:
        for ext in self.extensions:
            leg = agent_leg(self.call, ext, self.a)
            self.ringing[ext.number] = leg
            self.call.create_outgoing(leg, presence=True)
            self.call.ring(leg)
            ext.busy_with.add(leg.uuid)
        if self.ringing:
            first = next(iter(self.ringing.values()))
            self.a.context["other_contact_user"] = first.profile.dest
            self.a.context["ext"] = first.extension  # variable_dialed_user
            self.a.profile.callee_name, self.a.profile.callee_num = "Outbound Call", first.profile.dest
            self.call.ring(self.a)

    def _schedule(self) -> list[tuple[float, str, str]]:
        plan = [(self.timeout, "timeout", "")]
        if self.cancel_after is not None:
            plan.append((self.cancel_after, "cancel", ""))
        for ext in self.extensions:
            if ext.behaviour == ANSWER:
                plan.append((ext.answer_after, "answer", ext.number))
            elif ext.behaviour == BUSY:
                plan.append((ext.reject_after, "busy", ext.number))
        return sorted(plan)

    def run(self) -> RingResult:
        """Play the schedule; leaves the winner (if any) answered, losers hung up."""
        self.start()
        if not self.ringing:
            return RingResult("failed")
        elapsed, last = 0.0, None
        for at, what, number in self._schedule():
            killed = self.call.sleep(at - elapsed)
            elapsed = at
            if killed:
                return RingResult("cancel", last=last)
            if what in ("timeout", "cancel"):
                return RingResult("no_answer" if what == "timeout" else "cancel", last=last)
            leg = self.ringing.pop(number, None)
            if leg is None:
                continue
            if what == "busy":
                self.reject(leg)
                last = leg
                if not self.ringing:
                    return RingResult("busy", last=leg)
                continue
            self.call.answer(leg, presence=True)
            self.lose_race()
            return RingResult("answered", winner=leg)
        return RingResult("no_answer", last=last)

    def reject(self, leg: Leg) -> None:
        call = self.call
        call.hangup_start(leg, "USER_BUSY", "busy", presence=True, **callee_vars("busy"))
        call.hangup_report(leg)
        self._release(leg)

    def lose_race(self) -> None:
        for leg in list(self.ringing.values()):
            self.call.hangup_start(leg, "LOSE_RACE", "no_answer", presence=True,
                                   **callee_vars("lose_race"))
            self.call.hangup_report(leg)
            self._release(leg)
        self.ringing.clear()

    def end_ringing(self, cause: str, outcome: str) -> list[Leg]:
        """Hang up every still-ringing leg (first half: HANGUP, STATE, CALLSTATE)."""
        legs = list(self.ringing.values())
        for leg in legs:
            leg.hungup = self.call.now
            self.call.hangup_start(leg, cause, outcome, **callee_vars(outcome))
        self.ringing.clear()
        return legs

    def finish(self, legs: list[Leg]) -> None:
        for leg in legs:
            self.call.presence(leg, "CS_HANGUP", "terminated")
            self.call.hangup_report(leg)
            self._release(leg)

    def _release(self, leg: Leg) -> None:
        ext = self.call.pbx.extensions.get(leg.extension)
        if ext is not None:
            ext.busy_with.discard(leg.uuid)
