"""One simulated channel (leg) and how FreeSWITCH renders it into event headers.

A ``Leg`` holds what FreeSWITCH keeps per channel: the caller profile, the
state machine position, the timestamps (µs on the simulated clock), the
partner leg, and the channel variables the call flow set explicitly. Which
*other* variables appear, and when, comes from ``fs_shapes`` (per leg kind and
phase); their values from ``fs_values``; time and duration variables are
computed here the way FreeSWITCH computes them (``billsec = end_epoch -
answer_epoch``, ``billmsec = (end_uepoch - answer_uepoch) / 1000``, ...).
"""

from __future__ import annotations

import time
import uuid as uuidlib
from dataclasses import dataclass, field, replace

from .fs_shapes import SHAPES
from .fs_values import KIND_VALUES, VALUES

STATE_NUMBERS = {
    "CS_NEW": 0, "CS_INIT": 1, "CS_ROUTING": 2, "CS_SOFT_EXECUTE": 3, "CS_EXECUTE": 4,
    "CS_EXCHANGE_MEDIA": 5, "CS_PARK": 6, "CS_CONSUME_MEDIA": 7, "CS_HIBERNATE": 8,
    "CS_RESET": 9, "CS_HANGUP": 10, "CS_REPORTING": 11, "CS_DESTROY": 12,
}
# Variables whose presence the call flow decides (it sets them in Leg.vars).
FLOW_VARS = frozenset("""
hangup_cause hangup_cause_q850 sip_hangup_disposition sip_term_status sip_term_cause
proto_specific_hangup_cause DIALSTATUS originate_disposition last_bridge_hangup_cause
bridge_hangup_cause originate_failed_cause sip_invite_failure_status sip_invite_failure_phrase
sip_hangup_phrase sip_reason last_bridge_proto_specific_hangup_cause originated_legs
originate_causes originate_signal_bond DP_MATCH current_application current_application_data
last_app last_arg record_file_size record_samples record_seconds record_ms
record_completion_cause fslab_recording_path crm_userfield origination_uuid
origination_caller_id_number origination_caller_id_name originate_timeout
""".split())
PHASE_FALLBACK = {"progress": "create", "answer": "progress"}


def new_uuid() -> str:
    return str(uuidlib.uuid4())


def _expand(kind: str, phase: str) -> list[str]:
    base, added, removed = SHAPES[kind][phase]
    names = [] if base is None else _expand(kind, base)
    gone = set(removed.split())
    return [n for n in names if n not in gone] + added.split()


def variable_names(kind: str, phase: str) -> list[str]:
    """The variable names FreeSWITCH shows on a ``kind`` leg in ``phase``.

    Phases the recordings do not show for a kind (e.g. a busy gateway leg)
    are derived: the last known pre-answer set plus what the agent leg gains
    on the same outcome."""
    shapes = SHAPES[kind]
    while phase not in shapes and phase in PHASE_FALLBACK:
        phase = PHASE_FALLBACK[phase]
    if phase in shapes:
        return _expand(kind, phase)
    before = _expand(kind, "progress" if "progress" in shapes else "create")
    outcome = phase if phase in SHAPES["agent"] else "complete_no_answer"
    extra = [n for n in _expand("agent", outcome) if n not in _expand("agent", "progress")]
    return before + [n for n in extra if n not in before]


@dataclass
class Profile:
    """The FreeSWITCH caller profile of a leg (``Caller-*`` headers)."""

    direction: str
    cid_name: str
    cid_num: str
    dest: str
    context: str
    username: str | None = None
    dialplan: str | None = "XML"
    callee_name: str | None = None
    callee_num: str | None = None
    network_addr: str = "127.0.0.1"
    ani: str = ""

    def fields(self, callee: bool = True) -> list[tuple[str, str]]:
        out = [("Direction", self.direction), ("Logical-Direction", self.direction)]
        if self.username is not None:
            out.append(("Username", self.username))
        if self.dialplan is not None:
            out.append(("Dialplan", self.dialplan))
        out += [("Caller-ID-Name", self.cid_name), ("Caller-ID-Number", self.cid_num),
                ("Orig-Caller-ID-Name", self.cid_name), ("Orig-Caller-ID-Number", self.cid_num)]
        if self.callee_num is not None and callee:
            out += [("Callee-ID-Name", self.callee_name or ""), ("Callee-ID-Number", self.callee_num)]
        out += [("Network-Addr", self.network_addr)] if self.network_addr else []
        out += [("ANI", self.ani or self.cid_num),
                ("Destination-Number", self.dest)]
        return out


@dataclass
class Leg:
    """One channel. Times are µs on the simulated clock, 0 = not happened."""

    kind: str
    channel_name: str
    profile: Profile
    context: dict[str, str]
    uuid: str = field(default_factory=new_uuid)
    call_uuid: str = ""
    presence_id: str = ""
    hit_dialplan: bool = False
    other: Leg | None = None
    other_type: str = ""
    vars: dict[str, str | list[str]] = field(default_factory=dict)
    custom_vars: dict[str, str] = field(default_factory=dict)
    hidden: set[str] = field(default_factory=set)  # shape variables this leg lacks
    other_profile: Profile | None = None  # FreeSWITCH shows a snapshot of the partner
    phase: str = "create"
    state: str = "CS_NEW"
    call_state: str = "DOWN"
    answer_state: str = "ringing"
    codec: tuple[str, str, str] | None = None
    hangup_cause: str = ""
    created: int = 0
    progress: int = 0
    progress_media: int = 0
    answered: int = 0
    bridged: int = 0
    hungup: int = 0
    extension: str = ""

    def __post_init__(self) -> None:
        self.call_uuid = self.call_uuid or self.uuid
        if self.other is not None:
            self.set_other(self.other, self.other_type)
        self.profile.ani = self.profile.ani or self.profile.cid_num

    def set_other(self, other: Leg, other_type: str) -> None:
        """Partner leg; its profile is copied now, as FreeSWITCH does."""
        self.other, self.other_type = other, other_type
        self.other_profile = replace(other.profile)

    @property
    def direction(self) -> str:
        return self.profile.direction

    @property
    def alive(self) -> bool:
        return not self.hungup


def _stamp(us: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(us // 1_000_000))


def time_vars(leg: Leg) -> dict[str, str]:
    """The CDR time variables as FreeSWITCH computes them at hangup."""
    end = leg.hungup
    marks = {"start": leg.created, "profile_start": leg.created, "answer": leg.answered,
             "bridge": leg.bridged, "progress": leg.progress, "progress_media": leg.progress_media}
    out: dict[str, str] = {}
    for name, us in marks.items():
        if us:
            out[f"{name}_stamp"] = _stamp(us)
    out["end_stamp"] = _stamp(end)
    ordered = list(marks.items())[:4] + [("last_hold", 0), ("resurrect", 0)] + list(marks.items())[4:] + [("end", end)]
    for name, us in ordered:
        out[f"{name}_epoch"] = str(us // 1_000_000)
        out[f"{name}_uepoch"] = str(us)
    out.update(hold_accum_seconds="0", hold_accum_usec="0", hold_accum_ms="0")
    out["caller_id"] = f'"{leg.profile.cid_name}" <{leg.profile.cid_num}>'
    start = leg.created

    def span(us: int) -> int:
        return us - start if us else 0

    sec = lambda a, b: (a // 1_000_000 - b // 1_000_000) if a else 0  # noqa: E731
    out["duration"] = str(sec(end, start))
    out["billsec"] = str(sec(end, leg.answered) if leg.answered else 0)
    out["progresssec"] = str(sec(leg.progress, start))
    out["answersec"] = str(sec(leg.answered, start))
    out["waitsec"] = str(sec(leg.bridged, start))
    out["progress_mediasec"] = str(sec(leg.progress_media, start))
    out["flow_billsec"] = str(sec(end, start))
    usecs = {"mduration": end - start, "billmsec": end - leg.answered if leg.answered else 0,
             "progressmsec": span(leg.progress), "answermsec": span(leg.answered),
             "waitmsec": span(leg.bridged), "progress_mediamsec": span(leg.progress_media),
             "flow_billmsec": end - start}
    for name, us in usecs.items():
        out[name] = str(us // 1000)
    for name, us in usecs.items():
        uname = "uduration" if name == "mduration" else name.replace("msec", "usec")
        out[uname] = str(us)
    return out


def _value(leg: Leg, name: str, times: dict[str, str]) -> str | list[str] | None:
    if name in leg.vars:
        return leg.vars[name]
    if name in leg.custom_vars:
        return leg.custom_vars[name]
    if name in times:
        return times[name]
    if name == "sip_invite_stamp":
        return str(leg.created)
    if name in FLOW_VARS:
        return None
    template = KIND_VALUES.get(leg.kind, {}).get(name, VALUES.get(name))
    if template is None:
        return None
    return template.format_map(leg.context)


def variables(leg: Leg, phase: str | None = None) -> dict[str, str | list[str]]:
    """``variable_*`` headers of ``leg`` for ``phase`` (default: its current one)."""
    phase = phase or leg.phase
    times = time_vars(leg) if phase.startswith("complete") else {}
    out: dict[str, str | list[str]] = {}
    for name in variable_names(leg.kind, phase):
        if name in leg.hidden:
            continue
        value = _value(leg, name, times)
        if value is not None:
            out["variable_" + name] = value
    for name, value in leg.custom_vars.items():
        out.setdefault("variable_" + name, value)
    return out


def _profile_headers(prefix: str, leg: Leg, times: bool,
                     profile: Profile | None = None) -> dict[str, str]:
    out = {f"{prefix}-{k}": v for k, v in (profile or leg.profile).fields()}
    out[f"{prefix}-Unique-ID"] = leg.uuid
    out[f"{prefix}-Source"] = "mod_sofia"
    out[f"{prefix}-Context"] = leg.profile.context
    out[f"{prefix}-Channel-Name"] = leg.channel_name
    if times:
        out[f"{prefix}-Profile-Index"] = "1"
    stamps = [("Profile-Created", leg.created), ("Channel-Created", leg.created),
              ("Channel-Answered", leg.answered), ("Channel-Progress", leg.progress),
              ("Channel-Progress-Media", leg.progress_media), ("Channel-Hangup", leg.hungup),
              ("Channel-Transfer", 0), ("Channel-Resurrect", 0), ("Channel-Bridged", leg.bridged),
              ("Channel-Last-Hold", 0), ("Channel-Hold-Accum", 0)]
    for name, us in stamps:
        out[f"{prefix}-{name}-Time" if "Hold" not in name else f"{prefix}-{name}"] = str(us if times else 0)
    out[f"{prefix}-Screen-Bit"] = "true"
    out[f"{prefix}-Privacy-Hide-Name"] = "false"
    out[f"{prefix}-Privacy-Hide-Number"] = "false"
    return out


def channel_headers(leg: Leg, with_vars: bool = True) -> dict[str, str | list[str]]:
    """The channel block FreeSWITCH appends to every channel event."""
    out: dict[str, str | list[str]] = {
        "Channel-State": leg.state, "Channel-Call-State": leg.call_state,
        "Channel-State-Number": str(STATE_NUMBERS[leg.state]), "Channel-Name": leg.channel_name,
        "Unique-ID": leg.uuid, "Call-Direction": leg.direction,
        "Presence-Call-Direction": leg.direction,
        "Channel-HIT-Dialplan": "true" if leg.hit_dialplan else "false",
    }
    if leg.presence_id:
        out["Channel-Presence-ID"] = leg.presence_id
    out["Channel-Call-UUID"] = leg.call_uuid
    out["Answer-State"] = leg.answer_state
    if leg.hangup_cause and leg.state != "CS_REPORTING":
        out["Hangup-Cause"] = leg.hangup_cause
    if leg.codec:
        name, rate, bits = leg.codec
        out.update({"Channel-Read-Codec-Name": name, "Channel-Read-Codec-Rate": rate,
                    "Channel-Read-Codec-Bit-Rate": bits, "Channel-Write-Codec-Name": name,
                    "Channel-Write-Codec-Rate": rate, "Channel-Write-Codec-Bit-Rate": bits})
    out.update(_profile_headers("Caller", leg, times=True))
    if leg.other is not None:
        out["Other-Type"] = leg.other_type
        out.update(_profile_headers("Other-Leg", leg.other, times=False,
                                    profile=leg.other_profile))
    if with_vars:
        out.update(variables(leg))
    return out
