"""A simulated call: its legs, its timeline, and the event sequences of a leg.

``Call`` is the handle scripts get back (``wait()``, ``uuids``, ``kill()``);
subclasses in ``flows.py`` script one kind of call. The helpers here emit the
per-leg event sequences FreeSWITCH produces (create, ring, answer, bridge,
hangup), copied from the recordings; the flows decide their interleaving.

Each call keeps its own simulated timeline (``now``, µs): waits advance it by
exactly the requested simulated time, so durations and billsec are exact and
reproducible whatever the real scheduling jitter.
"""

from __future__ import annotations

import logging
import secrets
import time
from abc import ABC, abstractmethod

import gevent
import gevent.event

from .core import PbxCore
from .legs import Leg, Profile, new_uuid

log = logging.getLogger(__name__)

CALLSTATE_NUMBERS = {"DOWN": 0, "DIALING": 1, "RINGING": 2, "EARLY": 3, "ACTIVE": 4,
                     "HELD": 5, "RING_WAIT": 6, "HANGUP": 7, "UNHELD": 8}
Q850 = {"NORMAL_CLEARING": "16", "USER_BUSY": "17", "NO_ANSWER": "19", "ORIGINATOR_CANCEL": "16",
        "LOSE_RACE": "502", "MANAGER_REQUEST": "503", "CALL_REJECTED": "21",
        "NO_USER_RESPONSE": "18", "UNALLOCATED_NUMBER": "1", "USER_NOT_REGISTERED": "606"}
PCMU = ("PCMU", "8000", "64000")
OPUS = ("opus", "48000", "0")


class Call(ABC):
    """One call in progress (all its legs). ``wait()`` until it is over."""

    kind = "call"

    def __init__(self, pbx: PbxCore):
        self.pbx = pbx
        self.legs: dict[str, Leg] = {}
        self.now = pbx.clock.now_us()
        self.outcome = ""  # answered | no_answer | busy | cancel | killed | failed
        self.error = ""
        self.greenlet: gevent.Greenlet | None = None
        self._done = gevent.event.Event()
        self._kill = gevent.event.AsyncResult()

    # -- handle --------------------------------------------------------
    @property
    def uuids(self) -> dict[str, str]:
        """Role -> channel UUID (``did``, ``agent``, ``agent:101``, ``caller``, ``gateway``)."""
        return {role: leg.uuid for role, leg in self.legs.items()}

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = 10.0) -> bool:
        """Block until the last leg is destroyed; False on timeout (real seconds)."""
        return self._done.wait(timeout)

    def kill(self, cause: str = "NORMAL_CLEARING") -> None:
        """``uuid_kill``: end the call now with ``cause``."""
        if not self._kill.ready():
            self._kill.set(cause)

    @property
    def killed(self) -> str:
        return self._kill.value if self._kill.ready() else ""

    @abstractmethod
    def run(self) -> None:
        """The call's timeline (each flow in flows.py / originate.py)."""

    def run_safely(self) -> None:
        try:
            self.run()
        except gevent.GreenletExit:
            raise
        except Exception:
            log.exception("simulated %s call failed", self.kind)
            self.error = "internal error"
        finally:
            for leg in self.legs.values():
                self.pbx.channels.pop(leg.uuid, None)
            self._done.set()

    # -- time ----------------------------------------------------------
    def sleep(self, seconds: float) -> str:
        """Wait ``seconds`` simulated seconds; returns the kill cause if killed meanwhile."""
        started = time.monotonic()
        try:
            return self._kill.get(timeout=self.pbx.clock.real(seconds))
        except gevent.Timeout:
            self.now += int(seconds * 1_000_000)
            return ""
        finally:
            if self._kill.ready():
                elapsed = (time.monotonic() - started) * self.pbx.clock.speed
                self.now += int(min(elapsed, seconds) * 1_000_000)

    def tick(self, us: int = 20) -> None:
        self.now += us

    # -- legs ----------------------------------------------------------
    def add_leg(self, role: str, leg: Leg) -> Leg:
        leg.created = self.now
        self.legs[role] = leg
        self.pbx.channels[leg.uuid] = leg
        self.pbx.sessions_since_startup += 1
        self.pbx.peak_sessions = max(self.pbx.peak_sessions, len(self.pbx.channels))
        return leg

    def context(self, leg: Leg, **extra: str) -> None:
        """Fill the template fields of ``leg`` (see fs_values)."""
        other = leg.other
        leg.context.update({
            "uuid": leg.uuid, "chan": leg.channel_name, "cid_num": leg.profile.cid_num,
            "cid_name": leg.profile.cid_name, "outbound_cid": self.pbx.outbound_caller_id,
            "other_uuid": other.uuid if other else "", "other_chan": other.channel_name if other else "",
            "sip_call_id": (leg.context.get("sip_call_id")
                            or f"{secrets.token_hex(4)}-63b7-1240-788d-{secrets.token_hex(6)}"),
            "from_tag": leg.context.get("from_tag") or secrets.token_hex(6),
            "to_tag": leg.context.get("to_tag") or secrets.token_hex(8),
            "via_branch": leg.context.get("via_branch") or "z9hG4bK" + secrets.token_hex(6),
        })
        leg.context.update(extra)
        leg.vars.setdefault("session_id", str(self.pbx.sessions_since_startup))
        leg.vars.setdefault("RFC2822_DATE", time.strftime(
            "%a, %d %b %Y %H:%M:%S +0000", time.gmtime(self.now // 1_000_000)))

    def ext_leg_context(self, leg: Leg, ext) -> None:
        self.context(leg, ext=ext.number, contact_user=ext.contact_user,
                     contact_port=str(ext.network_port))

    # -- event helpers -------------------------------------------------
    def ev(self, leg: Leg, name: str, before: dict | None = None, after: dict | None = None,
           with_vars: bool = True) -> None:
        self.pbx.leg_event(leg, name, self.now, before, after, with_vars)

    def state(self, leg: Leg, state: str) -> None:
        leg.state = state
        self.ev(leg, "CHANNEL_STATE")

    def callstate(self, leg: Leg, call_state: str) -> None:
        original, leg.call_state = leg.call_state, call_state
        self.ev(leg, "CHANNEL_CALLSTATE", before={
            "Original-Channel-Call-State": original,
            "Channel-Call-State-Number": str(CALLSTATE_NUMBERS[call_state])})

    def execute(self, leg: Leg, app: str, data: str = "", complete: bool = True) -> str:
        app_uuid = new_uuid()
        leg.vars.update(current_application=app, current_application_data=data)
        self.ev(leg, "CHANNEL_EXECUTE", after={
            "Application": app, "Application-Data": data, "Application-UUID": app_uuid})
        if complete:
            self.execute_complete(leg, app, data, app_uuid)
        return app_uuid

    def execute_complete(self, leg: Leg, app: str, data: str, app_uuid: str = "") -> None:
        self.ev(leg, "CHANNEL_EXECUTE_COMPLETE", after={
            "Application": app, "Application-Data": data, "Application-Response": "_none_",
            "Application-UUID": app_uuid or new_uuid()})

    def presence(self, leg: Leg, status: str, info: str) -> None:
        self.ev(leg, "PRESENCE_IN", after={
            "proto": "any", "login": "src/switch_channel.c", "from": leg.presence_id,
            "rpid": "unknown", "status": status, "event_type": "presence",
            "alt_event_type": "dialog", "presence-call-info-state": info,
            "presence-call-direction": leg.direction, "event_count": "1"})

    def codec(self, leg: Leg, codec: tuple[str, str, str] = PCMU) -> None:
        leg.codec = codec
        name, rate, bits = codec
        self.ev(leg, "CODEC", after={"channel-read-codec-name": name,
                                     "channel-read-codec-rate": rate,
                                     "channel-read-codec-bit-rate": bits})
        self.ev(leg, "CODEC", after={"channel-write-codec-name": name,
                                     "channel-write-codec-rate": rate,
                                     "Channel-Write-codec-bit-rate": bits})

    # -- per-leg sequences ---------------------------------------------
    def create_outgoing(self, leg: Leg, presence: bool = False) -> None:
        """An originated (outbound) leg: OUTGOING .. CONSUME_MEDIA."""
        leg.state = "CS_NEW"
        self.ev(leg, "CHANNEL_OUTGOING", with_vars=False)
        self.state(leg, "CS_INIT")
        self.ev(leg, "CHANNEL_CREATE")
        self.ev(leg, "CHANNEL_ORIGINATE")
        self.state(leg, "CS_ROUTING")
        if presence:
            self.presence(leg, "CS_ROUTING", "progressing")
        self.state(leg, "CS_CONSUME_MEDIA")

    def create_incoming(self, leg: Leg, presence: bool = False) -> None:
        """A leg that reached FreeSWITCH (INVITE): NEW .. EXECUTE."""
        self.state(leg, "CS_NEW")
        self.state(leg, "CS_INIT")
        self.ev(leg, "CHANNEL_CREATE")
        self.callstate(leg, "RINGING")
        self.state(leg, "CS_ROUTING")
        if presence:
            self.presence(leg, "CS_ROUTING", "early")
        self.state(leg, "CS_EXECUTE")

    def ring(self, leg: Leg) -> None:
        leg.progress = self.now
        leg.phase = "progress"
        self.ev(leg, "CHANNEL_PROGRESS")
        if leg.call_state == "DOWN":
            self.callstate(leg, "RINGING")

    def early_media(self, leg: Leg, codec=PCMU) -> None:
        self.codec(leg, codec)
        leg.progress_media = self.now
        leg.answer_state = "early"
        leg.phase = "progress"
        self.ev(leg, "CHANNEL_PROGRESS_MEDIA")
        self.callstate(leg, "EARLY")

    def answer(self, leg: Leg, codec=PCMU, early: bool = False, presence: bool = False) -> None:
        if early:
            self.early_media(leg, codec)
        elif not leg.codec:
            self.codec(leg, codec)
        leg.answered = self.now
        leg.answer_state = "answered"
        leg.phase = "answer"
        self.ev(leg, "CHANNEL_ANSWER")
        if presence:
            self.presence(leg, "CS_EXECUTE" if leg.hit_dialplan else leg.state, "confirmed")
        self.callstate(leg, "ACTIVE")

    def link(self, a: Leg, b: Leg) -> None:
        """Mark ``a`` bridged to ``b`` (no event)."""
        a.bridged = b.bridged = self.now
        a.set_other(b, "originatee")
        if b.kind == "agent":  # as recorded: the user/ leg re-reads its originator's profile
            b.set_other(a, "originator")
        for leg, peer in ((a, b), (b, a)):
            leg.vars.update(bridge_uuid=peer.uuid, last_bridge_to=peer.uuid,
                            bridge_channel=peer.channel_name, signal_bond=peer.uuid)
            leg.context.update(other_uuid=peer.uuid, other_chan=peer.channel_name)

    def bridge_event(self, a: Leg, b: Leg, name: str = "CHANNEL_BRIDGE") -> None:
        self.ev(a, name, before={"Bridge-A-Unique-ID": a.uuid, "Bridge-B-Unique-ID": b.uuid})

    def bridged(self, a: Leg, b: Leg) -> None:
        """The events of ``a`` bridging to the answered ``b``, in the recordings' order."""
        self.link(a, b)
        self.bridge_event(a, b)
        self.state(b, "CS_EXCHANGE_MEDIA")
        self.ev(b, "CALL_UPDATE", before={"Direction": "RECV"})
        self.ev(a, "CALL_UPDATE", before={"Direction": "RECV"})

    def hangup_start(self, leg: Leg, cause: str, outcome: str, presence: bool = False,
                     **vars: str) -> None:
        """CHANNEL_HANGUP, CS_HANGUP, CALLSTATE HANGUP (+ PRESENCE_IN)."""
        self.hangup_event(leg, cause, **vars)
        self.hangup_states(leg, outcome, presence)

    def hangup_event(self, leg: Leg, cause: str, **vars: str) -> None:
        leg.hungup = self.now
        leg.hangup_cause = cause
        leg.answer_state = "hangup"
        leg.vars.update(vars, hangup_cause=cause, hangup_cause_q850=Q850.get(cause, "16"))
        self.ev(leg, "CHANNEL_HANGUP")

    def hangup_states(self, leg: Leg, outcome: str, presence: bool = False) -> None:
        leg.phase = "complete_" + outcome
        self.state(leg, "CS_HANGUP")
        self.callstate(leg, "HANGUP")
        if presence:
            self.presence(leg, "CS_HANGUP", "terminated")

    def hangup_report(self, leg: Leg, destroy: bool = True) -> None:
        """CS_REPORTING, CHANNEL_HANGUP_COMPLETE (+ DESTROY)."""
        self.state(leg, "CS_REPORTING")
        self.ev(leg, "CHANNEL_HANGUP_COMPLETE", before={"Hangup-Cause": leg.hangup_cause})
        self.pbx.report_cdr(leg)
        if destroy:
            self.destroy(leg)

    def destroy(self, leg: Leg) -> None:
        self.ev(leg, "CHANNEL_DESTROY")
        self.pbx.channels.pop(leg.uuid, None)
        leg.state = "CS_DESTROY"
        self.ev(leg, "CHANNEL_STATE")


def external_profile(direction: str, cid_name: str, cid_num: str, dest: str, context: str,
                     username: str | None, callee: str | None = None) -> Profile:
    return Profile(direction=direction, cid_name=cid_name, cid_num=cid_num, dest=dest,
                   context=context, username=username,
                   callee_name="Outbound Call" if callee else None, callee_num=callee)
