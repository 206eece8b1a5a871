"""Reading a finished ``originate`` background job (BACKGROUND_JOB event).

When FreeSWITCH cannot even create the agent's channel (the extension is not
registered: ``-ERR USER_NOT_REGISTERED``; no such user; a dial string error),
no channel event ever tells the tracker about the click-to-call. The job result
is then the only trace, and the CRM still needs that call's log (FAILED).
This module extracts what the log needs from the job's ``Job-Command-Arg``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..esl.protocol import Event
from ..records import CLICK_TO_CALL, CallRecord
from ..settings.phones import sip_text
from . import call_log
from .legs import USERFIELD_MAX, event_time

_USER = re.compile(r"(?:^|[}\]])user/([^@\s&/]+)(?:@([^\s&/]+))?")
_BRIDGE_NUMBER = re.compile(r"&bridge\(.*?/([^/()\s]+)\)\s*$")


@dataclass(slots=True)
class OriginateFailure:
    callid: str
    extension: str
    domain: str
    phone: str
    cause: str
    variables: dict[str, str]


def channel_variables(arg: str) -> dict[str, str]:
    """The ``{a=b,c=d}`` block at the start of an originate argument."""
    if not arg.startswith("{"):
        return {}
    end = arg.find("}")
    if end < 0:
        return {}
    pairs = re.split(r"(?<!\\),", arg[1:end])
    return {k.strip(): v.strip().strip("'") for k, _, v in (p.partition("=") for p in pairs) if k.strip()}


def failed_originate(event: Event) -> OriginateFailure | None:
    """The failure of an ``originate`` to ``user/<ext>`` that carried an
    ``origination_uuid`` (what click-to-call sends), else None."""
    if event.get("Job-Command") != "originate" or not event.body.startswith("-ERR"):
        return None
    arg = event.get("Job-Command-Arg")
    variables = channel_variables(arg)
    callid = variables.get("origination_uuid", "")
    user = _USER.search(arg)
    if not callid or user is None:
        return None
    bridge = _BRIDGE_NUMBER.search(arg)
    phone = variables.get("origination_caller_id_number") or (bridge.group(1) if bridge else "")
    cause = event.body[4:].strip().split()[0] if event.body[4:].strip() else "FAILED"
    return OriginateFailure(callid, user.group(1), user.group(2) or "", phone, cause, variables)


def failure_record(failure: OriginateFailure, event: Event, userfield_variables: tuple[str, ...]) -> CallRecord:
    """The ended click-to-call an originate failure stands for (its call log's
    status from the job's cause, duration 0)."""
    at = event_time(event)
    return CallRecord(
        callid=failure.callid, direction=CLICK_TO_CALL, state="ended", phone=sip_text(failure.phone),
        extension=failure.extension, domain=failure.domain, extensions=[failure.extension],
        started_at=at, ended_at=at, calldate=event.get("Event-Date-Local"),
        status=call_log.status_from_cause(failure.cause), hangup_cause=failure.cause,
        userfield=sip_text(next((failure.variables[v] for v in userfield_variables if failure.variables.get(v)), ""),
                           USERFIELD_MAX))
