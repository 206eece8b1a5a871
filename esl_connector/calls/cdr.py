"""One leg's CDR, as FreeSWITCH's mod_json_cdr writes it, -> a plain ``CdrLeg``.

Pure: no I/O. The input is the decoded JSON document (one channel, one leg):
``core-uuid``, ``switchname``, ``channel_data``, ``callStats``, ``variables``
(every channel variable as a string), ``app_log`` and ``callflow`` (caller
profiles, newest first). Everything the call log needs is in ``variables``
(``uuid``, ``call_uuid``, ``*_epoch``/``*_uepoch``, ``billsec``, ``duration``,
``hangup_cause``, ``start_stamp``, ``dialed_user``...) and in the oldest
caller profile (the numbers the channel was created with, as Event Socket's
``Caller-*`` headers show them).

mod_json_cdr URL-encodes every variable value unless ``encode-values=false``;
``parse_cdr`` notices (a ``start_stamp`` with ``%20`` instead of a space) and
decodes them, so both settings work.

A ``CdrLeg`` becomes, for the call tracker, the ``CHANNEL_HANGUP_COMPLETE``
that leg would have sent (``hangup_event``): the same leg rules apply to both
sources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from ..esl.protocol import Event

UUID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
MAX_VARIABLES = 5000
MAX_NAME_LENGTH = 256
KEPT_VALUE_LENGTH = 1024  # longer values (SDP bodies...) are dropped, never used
EPOCH_VARIABLES = ("start_uepoch", "answer_uepoch", "progress_uepoch", "progress_media_uepoch",
                   "end_uepoch", "start_epoch", "answer_epoch", "end_epoch", "billsec", "duration")
# Variables naming other channels: the call is complete once these legs' CDRs are in.
REFERENCE_VARIABLES = ("originator", "originating_leg_uuid", "bridge_uuid", "last_bridge_to",
                       "signal_bond", "cc_member_session_uuid", "other_loopback_leg_uuid")


class CdrError(ValueError):
    """Not a usable CDR. The message says what is wrong, never echoes the body."""


@dataclass(slots=True)
class CdrLeg:
    """One channel's final state, from its CDR. Times are FreeSWITCH's."""

    uuid: str
    callid: str  # the call's UUID (``call_uuid``), the CRM callid
    direction: str  # inbound | outbound (FreeSWITCH's view of this channel)
    channel_name: str = ""
    caller_number: str = ""
    destination: str = ""
    core_uuid: str = ""
    switchname: str = ""  # the FreeSWITCH that wrote it (its switchname, by default its hostname)
    hangup_cause: str = ""
    start_stamp: str = ""
    start_uepoch: int = 0
    progress_uepoch: int = 0
    answer_uepoch: int = 0
    end_uepoch: int = 0
    billsec: int = 0
    duration: int = 0
    variables: dict[str, str] = field(default_factory=dict)  # values <= KEPT_VALUE_LENGTH
    references: list[str] = field(default_factory=list)  # other legs this CDR names

    def hangup_event(self) -> Event:
        """The CHANNEL_HANGUP_COMPLETE this leg would have sent on the Event Socket."""
        headers: dict[str, str | list[str]] = {f"variable_{k}": v for k, v in self.variables.items()}
        headers.update({
            "Event-Name": "CHANNEL_HANGUP_COMPLETE", "Unique-ID": self.uuid,
            "Channel-Call-UUID": self.callid, "Channel-Name": self.channel_name,
            "Call-Direction": self.direction, "Core-UUID": self.core_uuid,
            "Caller-Caller-ID-Number": self.caller_number,
            "Caller-Destination-Number": self.destination,
            "Caller-Channel-Created-Time": str(self.start_uepoch),
            "Caller-Channel-Answered-Time": str(self.answer_uepoch),
            "Hangup-Cause": self.hangup_cause,
            "Event-Date-Timestamp": str(self.end_uepoch or self.start_uepoch),
            "Event-Date-Local": self.start_stamp,
        })
        return Event(headers)


def _object(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise CdrError(f"{what} must be a JSON object")
    return value


def _variables(doc: dict) -> dict[str, str]:
    raw = _object(doc.get("variables"), "'variables'")
    if len(raw) > MAX_VARIABLES:
        raise CdrError(f"'variables' has more than {MAX_VARIABLES} entries")
    for name, value in raw.items():
        if not isinstance(value, str):
            raise CdrError(f"variables.{name[:40]} must be a string, as FreeSWITCH writes it")
        if len(name) > MAX_NAME_LENGTH or "\x00" in name:
            raise CdrError("a variable name is too long or contains NUL")
    stamp = raw.get("start_stamp", "")
    if "%20" in stamp or "%3A" in stamp:  # encode-values=true (mod_json_cdr's default)
        raw = {name: unquote(value) for name, value in raw.items()}
    return {name: value for name, value in raw.items() if len(value) <= KEPT_VALUE_LENGTH}


def _number(variables: dict[str, str], name: str) -> int:
    value = variables.get(name, "")
    if not value:
        return 0
    if not value.isdigit() or len(value) > 20:
        raise CdrError(f"variables.{name} must be a non-negative integer")
    return int(value)


def _oldest_profile(doc: dict) -> dict:
    """The caller profile the channel was created with (callflow is newest first)."""
    callflow = doc.get("callflow")
    if callflow is None:
        return {}
    if not isinstance(callflow, list) or not all(isinstance(p, dict) for p in callflow):
        raise CdrError("'callflow' must be a list of objects")
    profile = callflow[-1].get("caller_profile") if callflow else {}
    return _object(profile or {}, "callflow[].caller_profile")


def _text(profile: dict, name: str) -> str:
    value = profile.get(name, "")
    if not isinstance(value, str):
        raise CdrError(f"caller_profile.{name} must be a string")
    return value[:KEPT_VALUE_LENGTH]


def _uuid(value: str, what: str) -> str:
    if not UUID_RE.match(value):
        raise CdrError(f"{what} is missing or not a channel UUID")
    return value


def _references(doc: dict, variables: dict[str, str], uuid: str) -> list[str]:
    names = [variables.get(name, "") for name in REFERENCE_VARIABLES]
    legs = variables.get("originated_legs", "")
    for item in legs.removeprefix("ARRAY::").split("|:") if legs else ():
        names.append(item.split(";", 1)[0])
    for profile in doc.get("callflow") or ():
        caller = profile.get("caller_profile") if isinstance(profile, dict) else None
        for key, listing in (("originator", "originator_caller_profiles"),
                             ("originatee", "originatee_caller_profiles")):
            others = (caller or {}).get(key) if isinstance(caller, dict) else None
            for other in (others or {}).get(listing, []) if isinstance(others, dict) else []:
                if isinstance(other, dict) and isinstance(other.get("uuid"), str):
                    names.append(other["uuid"])
    return list(dict.fromkeys(n for n in names if n and n != uuid and UUID_RE.match(n)))


def _short(value: Any, size: int) -> str:
    return value[:size] if isinstance(value, str) else ""


def parse_cdr(doc: Any) -> CdrLeg:
    """A ``CdrLeg`` from one decoded mod_json_cdr document; ``CdrError`` if unusable."""
    doc = _object(doc, "a CDR")
    variables = _variables(doc)
    uuid = _uuid(variables.get("uuid", ""), "variables.uuid")
    callid = _uuid(variables.get("call_uuid") or uuid, "variables.call_uuid")
    channel = doc.get("channel_data") or {}
    direction = variables.get("direction") or _object(channel, "'channel_data'").get("direction", "")
    if direction not in ("inbound", "outbound"):
        raise CdrError("variables.direction must be 'inbound' or 'outbound'")
    profile = _oldest_profile(doc)
    core_uuid = doc.get("core-uuid", "")
    if not isinstance(core_uuid, str) or len(core_uuid) > 64:
        raise CdrError("'core-uuid' must be a short string")
    numbers = {name: _number(variables, name) for name in EPOCH_VARIABLES}
    if not numbers["end_uepoch"] and not numbers["end_epoch"]:
        raise CdrError("variables.end_uepoch is missing: not the CDR of a channel that has hung up")
    return CdrLeg(
        uuid=uuid, callid=callid, direction=direction,
        channel_name=variables.get("channel_name") or _text(profile, "chan_name"),
        caller_number=_text(profile, "caller_id_number"), destination=_text(profile, "destination_number"),
        core_uuid=core_uuid, switchname=_short(doc.get("switchname"), 255),
        hangup_cause=variables.get("hangup_cause", ""),
        start_stamp=variables.get("start_stamp", ""),
        start_uepoch=numbers["start_uepoch"] or numbers["start_epoch"] * 1_000_000,
        progress_uepoch=numbers["progress_uepoch"] or numbers["progress_media_uepoch"],
        answer_uepoch=numbers["answer_uepoch"] or numbers["answer_epoch"] * 1_000_000,
        end_uepoch=numbers["end_uepoch"] or numbers["end_epoch"] * 1_000_000,
        billsec=numbers["billsec"], duration=numbers["duration"],
        variables=variables, references=_references(doc, variables, uuid),
    )
