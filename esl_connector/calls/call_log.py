"""The call log (``call_answered``) of a finished call: pure functions over its legs.

Status mapping (the leg that decides, then its Hangup-Cause):

* inbound: the extension legs. Any extension answered (rung, or picking the
  call up from its own phone) -> ANSWERED. Otherwise the cause of the last
  extension rung decides.
* outbound and click-to-call: the external (customer) legs. Any answered ->
  ANSWERED. Otherwise the last external leg's cause decides; with no external
  leg at all (the agent never answered a click-to-call, or the route failed
  before a channel existed) the extension's own leg decides.

=============================================  ===========
Hangup-Cause of the deciding leg               status
=============================================  ===========
(leg answered)                                  ANSWERED
USER_BUSY, CALL_REJECTED                        BUSY
NO_ANSWER, NO_USER_RESPONSE, ORIGINATOR_CANCEL,  NO ANSWER
ALLOTTED_TIMEOUT, LOSE_RACE, PICKED_OFF,
NORMAL_CLEARING, SUCCESS
anything else (USER_NOT_REGISTERED,             FAILED
SUBSCRIBER_ABSENT, UNALLOCATED_NUMBER,
NO_ROUTE_DESTINATION, NORMAL_TEMPORARY_FAILURE,
GATEWAY_DOWN, RECOVERY_ON_TIMER_EXPIRE, ...)
=============================================  ===========

ORIGINATOR_CANCEL means the caller gave up while the extension rang, which a
CRM records as a missed (NO ANSWER) call. NORMAL_CLEARING on an unanswered leg
is what FreeSWITCH reports when the dialplan ends the attempt itself (the
``call_timeout`` of a DID leg: ``DIALSTATUS=NOANSWER``).

Durations come from FreeSWITCH's epoch variables: ``duration`` runs from the
first leg's ``start_epoch`` to the last leg's ``end_epoch`` (ringing
included); ``billsec`` is the talk time, the union of the answered intervals
``[answer_epoch, end_epoch]`` of the talking legs (the extensions' legs for
inbound calls, the customer's legs otherwise), so a transfer between two
agents is neither double-counted nor lost.
"""

from __future__ import annotations

import time

from ..records import ANSWERED, BUSY, FAILED, INBOUND, NO_ANSWER
from .legs import Leg

BUSY_CAUSES = frozenset({"USER_BUSY", "CALL_REJECTED"})
NO_ANSWER_CAUSES = frozenset({
    "NO_ANSWER", "NO_USER_RESPONSE", "ORIGINATOR_CANCEL", "ALLOTTED_TIMEOUT",
    "LOSE_RACE", "PICKED_OFF", "NORMAL_CLEARING", "SUCCESS",
})


def status_from_cause(cause: str) -> str:
    if cause in BUSY_CAUSES:
        return BUSY
    if cause in NO_ANSWER_CAUSES:
        return NO_ANSWER
    return FAILED


def deciding_status(legs: list[Leg]) -> str:
    """ANSWERED if any leg answered, else the status of the last leg's cause."""
    if any(leg.answered for leg in legs):
        return ANSWERED
    if not legs:
        return FAILED
    return status_from_cause(legs[-1].hangup_cause)


def talk_seconds(legs: list[Leg]) -> int:
    """Whole seconds covered by the answered intervals of ``legs``."""
    spans = sorted(
        (leg.answer_epoch, leg.end_epoch)
        for leg in legs
        if leg.answer_epoch and leg.end_epoch >= leg.answer_epoch
    )
    total, cur_start, cur_end = 0, None, None
    for start, end in spans:
        if cur_end is None or start > cur_end:
            if cur_end is not None:
                total += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None:
        total += cur_end - cur_start
    return total


def call_bounds(legs: list[Leg]) -> tuple[int, int]:
    """(start_epoch of the first leg, end_epoch of the last leg)."""
    starts = [leg.start_epoch or int(leg.created_at) for leg in legs
              if leg.start_epoch or leg.created_at]
    ends = [leg.end_epoch for leg in legs if leg.end_epoch]
    start = min(starts) if starts else 0
    end = max(ends) if ends else start
    return start, max(end, start)


def calldate(root: Leg | None, start_epoch: int) -> str:
    """Call start in PBX local time, ``Y-m-d H:i:s``. FreeSWITCH formats
    ``start_stamp`` and ``Event-Date-Local`` in its own local time; only if
    neither is known do we format the epoch in the connector's timezone."""
    if root is not None and root.start_stamp:
        return root.start_stamp
    if root is not None and root.created_local:
        return root.created_local
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(start_epoch)) if start_epoch else ""


def decide(direction: str, extension_legs: list[Leg], external_legs: list[Leg],
           root: Leg | None) -> tuple[str, list[Leg]]:
    """(status, talking legs) for a finished call."""
    if direction == INBOUND:
        answered = [leg for leg in extension_legs if leg.answered]
        if answered:  # also an agent who picked the call up from another phone (intercept)
            return ANSWERED, answered
        rung = [leg for leg in extension_legs if leg.direction == "outbound"] or extension_legs
        return deciding_status(rung), rung
    if external_legs:
        return deciding_status(external_legs), external_legs
    if root is not None and root.answered:
        return FAILED, []  # the agent answered but the customer was never dialled
    return deciding_status([root] if root else []), []
