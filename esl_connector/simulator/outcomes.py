"""The hangup variables FreeSWITCH sets per leg role and outcome (from the recordings).

``callee_vars`` is for a leg FreeSWITCH dialled (agent ``user/101`` leg,
gateway leg); ``caller_vars`` for the leg that ran ``bridge`` (DID leg, an
extension's own leg, the click-to-call agent leg).
"""

from __future__ import annotations

CANCEL_REASON = 'Q.850;cause=19;text="NO_ANSWER"'
CLEARING_REASON = 'Q.850;cause=16;text="NORMAL_CLEARING"'
# outcome -> (hangup cause of the caller leg, DIALSTATUS, originate_disposition)
CALLER_OUTCOMES = {
    "no_answer": ("NORMAL_CLEARING", "NOANSWER", "NO_ANSWER"),
    "busy": ("USER_BUSY", "BUSY", "USER_BUSY"),
    "cancel": ("ORIGINATOR_CANCEL", "CANCEL", "ORIGINATOR_CANCEL"),
    "failed": ("USER_NOT_REGISTERED", "CHANUNAVAIL", "USER_NOT_REGISTERED"),
}


def callee_vars(outcome: str, remote_hangup: bool = True, reason: bool = False) -> dict[str, str]:
    """Variables of a dialled leg. ``outcome``: answered | no_answer | busy |
    cancel | lose_race; ``remote_hangup``: the far end sent BYE (answered)."""
    if outcome == "answered":
        if not remote_hangup:
            return {"sip_hangup_disposition": "send_bye"}
        out = {"sip_term_status": "200", "proto_specific_hangup_cause": "sip:200",
               "sip_term_cause": "16", "sip_hangup_disposition": "recv_bye"}
        if reason:
            out = {"sip_reason": CLEARING_REASON, **out}
        return out
    if outcome == "busy":
        return {"sip_hangup_disposition": "recv_refuse", "sip_invite_failure_status": "486",
                "sip_invite_failure_phrase": "Rejected", "sip_term_status": "486",
                "proto_specific_hangup_cause": "sip:486", "sip_term_cause": "17"}
    out = {"sip_hangup_disposition": "send_cancel", "sip_invite_failure_status": "487",
           "sip_invite_failure_phrase": "CANCEL"}
    if outcome == "cancel":
        out.update(sip_reason=CANCEL_REASON, sip_hangup_phrase="Request Terminated",
                   last_bridge_hangup_cause="ORIGINATOR_CANCEL",
                   last_bridge_proto_specific_hangup_cause="sip:487")
    return out


def caller_vars(outcome: str, b_uuid: str, b_callee: str, local_hangup: bool = True,
                reason: bool = False) -> dict[str, str]:
    """Variables of the bridging leg after the bridge ended (``answered``) or failed."""
    legs = f"{b_uuid};Outbound Call;{b_callee}"
    if outcome == "answered":
        out = {"originated_legs": legs, "originate_disposition": "SUCCESS", "DIALSTATUS": "SUCCESS",
               "originate_causes": f"{b_uuid};NONE"}
        if reason:
            out["sip_reason"] = CLEARING_REASON
        out.update(sip_hangup_phrase="OK", last_bridge_hangup_cause="NORMAL_CLEARING",
                   last_bridge_proto_specific_hangup_cause="sip:200",
                   bridge_hangup_cause="NORMAL_CLEARING",
                   sip_hangup_disposition="send_bye" if local_hangup else "recv_bye")
        return out
    cause, dialstatus, disposition = CALLER_OUTCOMES[outcome]
    out = {"originate_signal_bond": b_uuid, "originated_legs": legs}
    if outcome == "busy":
        out.update(sip_invite_failure_status="486", sip_invite_failure_phrase="Rejected",
                   sip_hangup_phrase="Rejected", last_bridge_hangup_cause="USER_BUSY",
                   last_bridge_proto_specific_hangup_cause="sip:486")
    elif outcome == "cancel":
        out.update(sip_hangup_disposition="recv_cancel", sip_invite_failure_status="487",
                   sip_invite_failure_phrase="CANCEL", sip_reason=CANCEL_REASON,
                   sip_term_status="487", proto_specific_hangup_cause="sip:487",
                   sip_term_cause="487")
    else:
        out["last_bridge_hangup_cause"] = disposition
    out.update(originate_causes=f"{b_uuid};{disposition}", originate_disposition=disposition,
               DIALSTATUS=dialstatus, originate_failed_cause=disposition)
    if outcome != "cancel":
        out["sip_hangup_disposition"] = "send_refuse"
    return out


def caller_cause(outcome: str) -> str:
    return CALLER_OUTCOMES[outcome][0] if outcome in CALLER_OUTCOMES else "NORMAL_CLEARING"
