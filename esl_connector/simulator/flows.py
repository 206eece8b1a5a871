"""The scripted call flows: inbound DID, extension dials out, internal, click-to-call.

Each flow reproduces the per-leg event sequences and the cross-leg
interleaving of the matching recording (including its non-causal spots:
the B-leg's HANGUP_COMPLETE comes before the A-leg's UNBRIDGE).
"""

from __future__ import annotations

import time

from .calls import OPUS, PCMU, Call
from .legs import Leg, Profile
from .model import ANSWER, BUSY, FarEnd
from .outcomes import callee_vars, caller_cause, caller_vars
from .registration import auth_noise
from .ringing import Ringer


class BridgingCall(Call):
    """Shared pieces of flows whose A-leg runs a dialplan ending in ``bridge``."""

    def dialplan(self, a: Leg, apps: list[tuple[str, str]]) -> None:
        for app, data in apps:
            self.execute(a, app, data)
            if app == "set" and "=" in data:
                name, value = data.split("=", 1)
                a.custom_vars[name] = value
                if name != name.lower():  # channel variable names are case-insensitive
                    a.hidden.add(name.lower())

    def start_bridge(self, a: Leg, target: str) -> str:
        a.vars.update(last_app="bridge", last_arg=target)
        return self.execute(a, "bridge", target, complete=False)

    def rfc_date(self) -> str:
        return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(self.now // 1_000_000))

    def talk_and_end(self, a: Leg, b: Leg, talk: float, b_hangs_up: bool, bridge_app: str,
                     b_presence: bool, a_presence: bool, reason: bool = False) -> None:
        killed = self.sleep(talk)
        b_hangs_up = b_hangs_up or bool(killed)
        b_vars = callee_vars("answered", remote_hangup=b_hangs_up, reason=b.kind == "gateway")
        a_vars = caller_vars("answered", b.uuid, b.profile.callee_num or b.profile.dest,
                             local_hangup=b_hangs_up, reason=reason)
        if b_hangs_up:
            self.hangup_start(b, "NORMAL_CLEARING", "answered", presence=b_presence, **b_vars)
            self.hangup_report(b, destroy=False)
            self.end_a(a, b, bridge_app, a_vars)
            self.destroy(b)
        else:
            self.end_a(a, b, bridge_app, a_vars)
            self.hangup_start(b, "NORMAL_CLEARING", "answered", presence=b_presence, **b_vars)
            self.hangup_report(b)
        if a_presence:
            self.presence(a, "CS_HANGUP", "terminated")
        self.hangup_report(a)
        self.outcome = "answered"

    def end_a(self, a: Leg, b: Leg, bridge_app: str, a_vars: dict) -> None:
        """The bridging leg after its bridge ended: UNBRIDGE, HANGUP, EXECUTE_COMPLETE..."""
        self.bridge_event(a, b, "CHANNEL_UNBRIDGE")
        a.vars.update(a_vars, hangup_cause="NORMAL_CLEARING", hangup_cause_q850="16")
        a.hungup, a.hangup_cause, a.answer_state = self.now, "NORMAL_CLEARING", "hangup"
        if a.kind == "c2c_agent":
            self.execute_complete(a, "bridge", bridge_app)
            self.ev(a, "CHANNEL_HANGUP")
        else:
            self.ev(a, "CHANNEL_HANGUP")
            self.execute_complete(a, "bridge", bridge_app)
        a.phase = "complete_recorded" if "record_ms" in a_vars else "complete_answered"
        self.state(a, "CS_HANGUP")
        self.stop_recordings(a)
        self.callstate(a, "HANGUP")

    def stop_recordings(self, a: Leg) -> None:
        """Overridden by flows that record."""

    def fail_a(self, a: Leg, outcome: str, b: Leg | None, report: bool = True) -> None:
        a.vars.update(caller_vars(outcome, b.uuid if b else "", b.profile.dest if b else ""))
        if not b:
            for name in ("originate_signal_bond", "originated_legs"):
                a.vars.pop(name, None)
        self.hangup_start(a, caller_cause(outcome), outcome, presence=a.kind != "did",
                          **{})
        if report:
            self.hangup_report(a)
        self.outcome = outcome

    def bridge_far_end(self, a: Leg, b: Leg, target: str, far: FarEnd, call_timeout: float,
                       a_presence: bool) -> None:
        """The gateway leg ``b`` rings the far end; bridge or fail ``a``."""
        wait = far.answer_after if far.outcome == ANSWER else (
            far.reject_after if far.outcome == BUSY else call_timeout)
        killed = self.sleep(wait)
        if far.outcome == ANSWER and not killed:
            self.answer(b)
            originate_success(a, b)
            if a.kind == "ext_out":  # the far end's identity, learnt from its answer
                a.profile.callee_name = a.profile.callee_num = b.profile.dest
            if a.answered:
                self.callstate(a, "ACTIVE")
            else:
                self.answer(a, early=not a.codec, presence=a_presence)
            self.bridged(a, b)
            self.talk_and_end(a, b, far.talk_time, True, target, False, a_presence, reason=True)
            return
        outcome = "cancel" if killed else ("busy" if far.outcome == BUSY else "no_answer")
        b_outcome = "busy" if outcome == "busy" else "no_answer"
        self.hangup_start(b, "USER_BUSY" if outcome == "busy" else "NO_ANSWER", b_outcome,
                          **callee_vars(b_outcome))
        self.hangup_report(b)
        self.execute_complete(a, "bridge", target)
        self.fail_a(a, outcome, b)


def originate_success(a: Leg, b: Leg) -> None:
    """What ``bridge`` sets on the A-leg once the B-leg answered."""
    a.vars.update(originate_signal_bond=b.uuid, originate_disposition="SUCCESS",
                  DIALSTATUS="SUCCESS",
                  originated_legs=f"{b.uuid};Outbound Call;{b.profile.callee_num or b.profile.dest}")


def gateway_leg(call: Call, a: Leg, number: str, cid_name: str, cid_num: str,
                username: str | None) -> Leg:
    """The ``sofia/external/<number>`` B-leg towards the PSTN gateway."""
    profile = Profile(direction="outbound", cid_name=cid_name, cid_num=cid_num, dest=number,
                      context="default", username=username, dialplan="XML" if username else None,
                      callee_name="Outbound Call", callee_num=number)
    b = Leg("gateway", f"sofia/external/{number}", profile, {}, call_uuid=a.uuid,
            other=a, other_type="originator")
    b.vars.update(originator=a.uuid, originating_leg_uuid=a.uuid)
    if a.kind == "c2c_agent":  # no dialplan ran: nothing exported; cid set by {vars}
        b.hidden.update(("export_vars", "RFC2822_DATE"))
        b.custom_vars["origination_caller_id_number"] = cid_num
    call.add_leg("gateway", b)
    call.context(b, ext=a.extension, number=number, contact_user=number, contact_port="5080")
    call.create_outgoing(b)
    return b


def did_leg(call: Call, caller: str, caller_name: str, did: str) -> Leg:
    profile = Profile(direction="inbound", cid_name=caller_name, cid_num=caller, dest=did,
                      context="public", username=caller)
    leg = Leg("did", f"sofia/external/{caller}@127.0.0.1", profile, {}, hit_dialplan=True)
    call.add_leg("did", leg)
    call.context(leg, did=did, contact_user=did, contact_port="5080", ext="")
    leg.vars["DP_MATCH"] = [did, did]
    return leg


class InboundCall(BridgingCall):
    """A PSTN caller dials a DID that rings one extension or a ring group.

    Recordings: inbound_answered / _no_answer / _caller_cancel / _busy."""

    kind = "inbound"

    def __init__(self, pbx, caller: str, did: str, ring: list[str], caller_name: str = "",
                 call_timeout: float = 10.0, cancel_after: float | None = None,
                 hangup_by: str = "agent", talk_time: float | None = None):
        super().__init__(pbx)
        self.caller, self.did, self.ring_list = caller, did, ring
        self.caller_name = caller_name or caller
        self.call_timeout, self.cancel_after = call_timeout, cancel_after
        self.hangup_by, self.talk_time = hangup_by, talk_time

    def run(self) -> None:
        a = self.did_leg()
        self.create_incoming(a)
        self.dialplan(a, [("set", "outside_call=true"), ("export", f"RFC2822_DATE={self.rfc_date()}"),
                          ("set", f"domain_name={self.pbx.domain}"), ("set", f"fslab_did={self.did}"),
                          ("set", f"call_timeout={self.call_timeout:g}"),
                          ("set", "hangup_after_bridge=true")])
        target = ",".join(f"user/{n}@{self.pbx.domain}" for n in self.ring_list)
        self.start_bridge(a, target)
        exts = [self.pbx.extensions[n] for n in self.ring_list if n in self.pbx.extensions]
        ringer = Ringer(self, a, exts, self.call_timeout, self.cancel_after)
        result = ringer.run()
        if result.outcome == "answered":
            self.answered(a, result.winner, target)
        else:
            self.failed(a, ringer, result.outcome, result.last, target)

    def did_leg(self) -> Leg:
        """The leg that reached the DID (a loopback flow replaces it)."""
        return did_leg(self, self.caller, self.caller_name, self.did)

    def answered(self, a: Leg, b: Leg, target: str) -> None:
        originate_success(a, b)
        self.answer(a, codec=OPUS, early=True)
        self.ev(b, "CHANNEL_OUTGOING")
        self.bridged(a, b)
        ext = self.pbx.extensions[b.extension]
        talk = ext.talk_time if self.talk_time is None else self.talk_time
        self.talk_and_end(a, b, talk, self.hangup_by != "caller", target, True, False)
        ext.busy_with.discard(b.uuid)

    def failed(self, a: Leg, ringer: Ringer, outcome: str, last: Leg | None, target: str) -> None:
        b = last or next(iter(ringer.ringing.values()), None)
        legs: list[Leg] = []
        if outcome in ("busy", "cancel"):
            self.hangup_event(a, caller_cause(outcome))
            if outcome == "cancel":
                legs = ringer.end_ringing("ORIGINATOR_CANCEL", "cancel")
            self.execute_complete(a, "bridge", target)
        else:
            legs = ringer.end_ringing("NO_ANSWER", "no_answer")
            self.execute_complete(a, "bridge", target)
            self.hangup_event(a, caller_cause(outcome))
        b = b or (legs[0] if legs else None)
        a.vars.update(caller_vars(outcome if outcome in ("cancel", "no_answer", "busy") else "failed",
                                  b.uuid if b else "", b.profile.dest if b else ""))
        self.hangup_states(a, outcome)
        self.hangup_report(a)
        ringer.finish(legs)
        self.outcome = outcome


class OutboundCall(BridgingCall):
    """An extension dials an external number through the gateway.

    Recordings: outbound_from_extension, recording (``record=True``)."""

    kind = "outbound"

    def __init__(self, pbx, extension: str, number: str, record: bool, far_end: FarEnd,
                 call_timeout: float = 20.0):
        super().__init__(pbx)
        self.ext = pbx.extension(extension)
        self.number, self.record, self.far_end, self.call_timeout = number, record, far_end, call_timeout
        self.recordings: list[str] = []

    def ext_leg(self, dialled: str) -> Leg:
        ext = self.ext
        profile = Profile(direction="inbound", cid_name=ext.number, cid_num=ext.number,
                          dest=dialled, context="default", username=ext.number)
        leg = Leg("ext_out", f"sofia/internal/{ext.number}@127.0.0.1:5060", profile, {},
                  presence_id=f"{ext.number}@{ext.domain}", hit_dialplan=True, extension=ext.number)
        self.add_leg("caller", leg)
        self.ext_leg_context(leg, ext)
        leg.context.update(number=self.number)
        leg.vars["DP_MATCH"] = [dialled, self.number] if dialled != self.number else [dialled, dialled]
        return leg

    def run(self) -> None:
        dialled = ("9" + self.number) if self.record else self.number
        a = self.ext_leg(dialled)
        # sofia copies the directory lookup's REQUEST_PARAMS event into the
        # channel's variables (and that event's Event-Sequence leaves a gap).
        request = self.pbx.base_headers("REQUEST_PARAMS", self.now)
        request.update({"Event-Calling-File": "sofia.c", "Event-Calling-Function":
                        "sofia_handle_sip_i_invite", "Event-Calling-Line-Number": "10723"})
        a.vars.update(request)
        a.state = "CS_NEW"
        self.ev(a, "CHANNEL_STATE")
        auth_noise(self.pbx, self.ext, dialled, 300, a.context["sip_call_id"], self.now)
        self.state(a, "CS_INIT")
        self.ev(a, "CHANNEL_CREATE")
        self.callstate(a, "RINGING")
        self.state(a, "CS_ROUTING")
        self.presence(a, "CS_ROUTING", "early")
        self.state(a, "CS_EXECUTE")
        self.ext.busy_with.add(a.uuid)
        try:
            self.run_dialplan(a)
        finally:
            self.ext.busy_with.discard(a.uuid)

    def run_dialplan(self, a: Leg) -> None:
        ext, domain = self.ext, self.pbx.domain
        dialled = a.profile.dest
        self.dialplan(a, [("hash", f"insert/{domain}-spymap/{ext.number}/{a.uuid}"),
                          ("hash", f"insert/{domain}-last_dial/{ext.number}/{dialled}"),
                          ("hash", f"insert/{domain}-last_dial/global/{a.uuid}"),
                          ("export", f"RFC2822_DATE={self.rfc_date()}")])
        if self.record:
            path = f"/srv/pbx/fs/recordings/{a.uuid}.wav"
            self.dialplan(a, [("set", "RECORD_STEREO=true"), ("set", f"fslab_recording_path={path}")])
            self.early_media(a)
            self.start_recording(a, path, app=True)
        self.dialplan(a, [("set", f"effective_caller_id_number={self.pbx.outbound_caller_id}"),
                          ("set", "hangup_after_bridge=true"),
                          ("set", f"call_timeout={self.call_timeout:g}")])
        target = f"sofia/gateway/{self.pbx.gateway}/{self.number}"
        self.start_bridge(a, target)
        b = self.gateway_leg(a)
        self.dial_far_end(a, b, target)

    def gateway_leg(self, a: Leg) -> Leg:
        return gateway_leg(self, a, self.number, f"Agent {self.ext.number}",
                           self.pbx.outbound_caller_id, self.ext.number)

    def dial_far_end(self, a: Leg, b: Leg, target: str) -> None:
        self.bridge_far_end(a, b, target, self.far_end, self.call_timeout, a_presence=True)

    def start_recording(self, a: Leg, path: str, app: bool) -> None:
        if app:
            self.execute(a, "record_session", path, complete=False)
        self.ev(a, "RECORD_START", after={"Record-File-Path": path})
        self.ev(a, "MEDIA_BUG_START", after={"Media-Bug-Function": "session_record",
                                              "Media-Bug-Target": path})
        if app:
            self.execute_complete(a, "record_session", path)
        self.recordings.append(path)

    def stop_recordings(self, a: Leg) -> None:
        if not self.recordings:
            return
        ms = max(0, (self.now - (a.progress_media or a.created)) // 1000)
        stats = {"record_file_size": str(32 * ms), "record_samples": str(8 * ms),
                 "record_seconds": str(ms // 1000), "record_ms": str(ms),
                 "record_completion_cause": "success-silence"}
        a.vars.update(stats)
        a.phase = "complete_recorded"
        for path in self.recordings:
            self.ev(a, "RECORD_STOP", after={"Record-File-Path": path,
                                             "Record-Completion-Cause": "success-silence"})
        for path in self.recordings:
            self.ev(a, "MEDIA_BUG_STOP", after={"Media-Bug-Function": "session_record",
                                                "Media-Bug-Target": path})

    def record_api(self, path: str) -> None:
        """``uuid_record <uuid> start <path>`` on the extension's leg."""
        a = self.legs["caller"]
        self.start_recording(a, path, app=False)


__all__ = ["InboundCall", "OutboundCall", "BridgingCall", "did_leg", "gateway_leg", "PCMU"]
