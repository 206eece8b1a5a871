"""``originate`` (click-to-call) and extension-to-extension calls.

``originate {vars}user/101 &bridge({vars}sofia/gateway/<gw>/<number>)``: the
agent leg rings first; the api result (``+OK <uuid>``) is returned when the
agent answers, then the customer leg is dialled and bridged. Failures return
``-ERR USER_NOT_REGISTERED`` (no channel at all), ``-ERR USER_BUSY`` or
``-ERR NO_ANSWER``, as the click_to_call and api_responses recordings show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import gevent
import gevent.event

from .flows import BridgingCall, OutboundCall, gateway_leg
from .legs import Leg
from .model import ANSWER, BUSY
from .outcomes import callee_vars
from .ringing import Ringer, agent_leg

ORIGINATE_VARS = ("origination_uuid", "origination_caller_id_number",
                  "origination_caller_id_name", "originate_timeout")
_VARS = re.compile(r"^\{([^}]*)\}")
_APP = re.compile(r"^&(\w+)\((.*)\)$", re.S)


class OriginateError(ValueError):
    """The originate arguments cannot be understood (``-ERR`` reply)."""


@dataclass
class Originate:
    """A parsed ``originate`` command line."""

    variables: dict[str, str] = field(default_factory=dict)
    endpoint: str = ""
    app: str = "park"
    app_arg: str = ""


def split_vars(text: str) -> tuple[dict[str, str], str]:
    """``{a=1,b=2}rest`` -> ({'a': '1', 'b': '2'}, 'rest')."""
    match = _VARS.match(text)
    if not match:
        return {}, text
    variables = {}
    for item in filter(None, match.group(1).split(",")):
        name, _, value = item.partition("=")
        variables[name.strip()] = value.strip().strip("'")
    return variables, text[match.end():]


def parse_originate(args: str) -> Originate:
    args = args.strip()
    variables, rest = split_vars(args)
    endpoint, _, app_part = rest.partition(" ")
    if not endpoint:
        raise OriginateError("-ERR INVALID_ARGS\n")
    app_part = app_part.strip() or "&park()"
    match = _APP.match(app_part)
    if not match:
        raise OriginateError("-ERR INVALID_ARGS\n")
    return Originate(variables, endpoint, match.group(1), match.group(2))


class ClickToCall(BridgingCall):
    """``originate user/<ext> &bridge(...)``; ``result`` gets the api answer."""

    kind = "click2call"

    def __init__(self, pbx, ext, request: Originate):
        super().__init__(pbx)
        self.ext, self.request = ext, request
        self.result: gevent.event.AsyncResult = gevent.event.AsyncResult()

    def run(self) -> None:
        try:
            self.originate()
        finally:
            if not self.result.ready():
                self.result.set("-ERR NORMAL_CLEARING\n")

    def originate(self) -> None:
        req, ext = self.request, self.ext
        v = req.variables
        cid = (v.get("origination_caller_id_name", ext.number),
               v.get("origination_caller_id_number", ext.number))
        a = agent_leg(self, ext, None, kind="c2c_agent", cid=cid,
                      leg_uuid=v.get("origination_uuid"))
        self.legs = {"agent": self.legs.pop(f"agent:{ext.number}")}
        a.vars.update({k: val for k, val in v.items() if k in ORIGINATE_VARS})
        a.custom_vars.update({k: val for k, val in v.items() if k not in ORIGINATE_VARS})
        ext.busy_with.add(a.uuid)
        try:
            if self.ring_agent(a, float(v.get("originate_timeout", 60))):
                self.after_answer(a)
        finally:
            ext.busy_with.discard(a.uuid)

    def ring_agent(self, a: Leg, timeout: float) -> bool:
        ext = self.ext
        self.create_outgoing(a, presence=True)
        self.ring(a)
        if ext.behaviour == ANSWER and ext.answer_after < timeout:
            wait, outcome = ext.answer_after, "answered"
        elif ext.behaviour == BUSY and ext.reject_after < timeout:
            wait, outcome = ext.reject_after, "busy"
        else:
            wait, outcome = timeout, "no_answer"
        killed = self.sleep(wait)
        if killed:
            outcome = "cancel"
        if outcome != "answered":
            cause = {"busy": "USER_BUSY", "no_answer": "NO_ANSWER"}.get(outcome, killed)
            self.hangup_start(a, cause, outcome, presence=True, **callee_vars(outcome))
            self.hangup_report(a)
            self.outcome = outcome
            self.result.set(f"-ERR {cause}\n")
            return False
        a.profile.network_addr = "127.0.0.1"  # learnt from the phone's 200 OK
        self.answer(a, presence=True)
        self.ev(a, "CHANNEL_OUTGOING")
        self.ev(a, "CALL_UPDATE", before={"Direction": "RECV"})
        self.result.set(f"+OK {a.uuid}\n")
        gevent.sleep(0.001)  # let the server publish BACKGROUND_JOB first, as FreeSWITCH does
        return True

    def after_answer(self, a: Leg) -> None:
        req = self.request
        a.hit_dialplan = True
        self.state(a, "CS_EXECUTE")
        if req.app != "bridge":
            self.execute(a, req.app, req.app_arg, complete=False)
            killed = self.sleep(3600 * 24)
            self.execute_complete(a, req.app, req.app_arg)
            self.hangup_start(a, killed or "NORMAL_CLEARING", "answered", presence=True,
                              **callee_vars("answered", remote_hangup=False))
            self.hangup_report(a)
            return
        b_vars, target = split_vars(req.app_arg)
        number = target.rsplit("/", 1)[-1]
        self.start_bridge(a, req.app_arg)
        self.callstate(a, "RING_WAIT")
        b = gateway_leg(self, a, number, a.profile.cid_name,
                        b_vars.get("origination_caller_id_number", self.pbx.outbound_caller_id), None)
        far = self.pbx.far_end.get(number, self.pbx.default_far_end)
        self.bridge_far_end(a, b, req.app_arg, far, float(a.vars.get("originate_timeout", 60)),
                            a_presence=True)


class InternalCall(OutboundCall):
    """Extension to extension: the caller's own leg bridges ``user/<callee>``."""

    kind = "internal"

    def __init__(self, pbx, caller: str, callee: str, call_timeout: float = 15.0,
                 hangup_by: str = "callee"):
        super().__init__(pbx, caller, callee, False, pbx.default_far_end, call_timeout)
        self.callee, self.hangup_by = callee, hangup_by

    def run_dialplan(self, a: Leg) -> None:
        domain = self.pbx.domain
        self.dialplan(a, [("hash", f"insert/{domain}-spymap/{self.ext.number}/{a.uuid}"),
                          ("hash", f"insert/{domain}-last_dial/{self.ext.number}/{self.callee}"),
                          ("hash", f"insert/{domain}-last_dial/global/{a.uuid}"),
                          ("export", f"RFC2822_DATE={self.rfc_date()}"),
                          ("set", f"call_timeout={self.call_timeout:g}")])
        target = f"user/{self.callee}@{domain}"
        self.start_bridge(a, target)
        callee = self.pbx.extensions.get(self.callee)
        ringer = Ringer(self, a, [callee] if callee else [], self.call_timeout)
        result = ringer.run()
        if result.outcome != "answered":
            legs = ringer.end_ringing("NO_ANSWER", "no_answer") if result.outcome != "busy" else []
            self.execute_complete(a, "bridge", target)
            self.fail_a(a, result.outcome if result.outcome != "cancel" else "no_answer",
                        result.last or (legs[0] if legs else None))
            ringer.finish(legs)
            return
        b = result.winner
        self.answer(a, early=True, presence=True)
        self.ev(b, "CHANNEL_OUTGOING")
        self.bridged(a, b)
        talk = callee.talk_time
        self.talk_and_end(a, b, talk, self.hangup_by == "callee", target, True, True, reason=True)
        callee.busy_with.discard(b.uuid)
