"""An inbound call that reaches the DID through a loopback pair.

``originate {origination_caller_id_number=<caller>}loopback/<did>/public &park()``
(dialers, callback campaigns, some routing setups): FreeSWITCH creates
``loopback/<did>-a`` (outbound, the originate: its own Channel-Call-UUID,
destination the DID) and ``loopback/<did>-b`` (inbound, context ``public``,
its own Channel-Call-UUID, ``other_loopback_leg_uuid`` naming the -a half),
and the -b half runs the DID's dialplan, which rings the agents with the
caller's number as their caller ID. Recording: ``inbound_via_loopback``
(whose agent is itself a loopback; here it is a SIP phone, as in the other
inbound flows). The call's first leg is the -a half, whose number is the DID:
the customer is the number the agent's phone shows.
"""

from __future__ import annotations

from .calls import external_profile
from .flows import InboundCall
from .legs import Leg, Profile


class LoopbackInboundCall(InboundCall):
    def did_leg(self) -> Leg:
        a = self.add_leg("loopback_a", Leg("gateway", f"loopback/{self.did}-a", external_profile(
            "outbound", self.caller_name, self.caller, self.did, "public", None), {}))
        self.context(a, number=self.did, contact_user=self.did, contact_port="5080", ext="")
        self.create_outgoing(a)
        profile = Profile(direction="inbound", cid_name=self.caller_name, cid_num=self.caller, dest=self.did,
                          context="public", username=self.caller)
        b = self.add_leg("did", Leg("did", f"loopback/{self.did}-b", profile, {}, hit_dialplan=True))
        self.context(b, did=self.did, contact_user=self.did, contact_port="5080", ext="")
        b.vars["DP_MATCH"] = [self.did, self.did]
        a.custom_vars["other_loopback_leg_uuid"] = b.uuid
        b.custom_vars["other_loopback_leg_uuid"] = a.uuid
        return b

    def answered(self, a: Leg, b: Leg, target: str) -> None:
        self.answer(self.legs["loopback_a"])  # the -a half answers with the -b half
        super().answered(a, b, target)

    def run(self) -> None:
        super().run()
        half = self.legs["loopback_a"]
        self.hangup_start(half, "NORMAL_CLEARING", "answered" if half.answered else "no_answer")
        self.hangup_report(half)
