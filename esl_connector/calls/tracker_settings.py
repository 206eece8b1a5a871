"""What the call tracker is told: which users are extensions, where a call's
userfield comes from, which phones are webphones, each customer's phone rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..settings.config import DEFAULT_EXTENSION_PATTERN
from ..settings.phones import PhoneRules

DEFAULT_PHONE_RULES = PhoneRules()


def default_phone_rules(_extension: str, _domain: str) -> PhoneRules:
    return DEFAULT_PHONE_RULES


@dataclass(slots=True)
class TrackerSettings:
    extension_pattern: str = DEFAULT_EXTENSION_PATTERN
    # Channel variables whose value is the call's userfield (click-to-call sets crm_userfield).
    userfield_variables: tuple[str, ...] = ("crm_userfield",)
    # A custom SIP header a webphone may send with its INVITE (read as sip_h_<name>).
    userfield_header: str = "X-Userfield"
    # Which calling extensions are CRM webphones whose SIP Call-ID is the userfield:
    # webphone(extension, domain, sip_via_protocol) -> bool. None: no webphones.
    webphone: Callable[[str, str, str], bool] | None = None
    # The phone rules of the customer owning (extension, domain): every phone in a
    # CRM event is normalised by them (``settings.phones``). None: the defaults.
    phone_rules: Callable[[str, str], PhoneRules] | None = None
    max_finished_remembered: int = 20000
    # The FreeSWITCH node this tracker follows (its configured name): every call
    # and extension record it produces carries it.
    node: str = ""
    # CDRs (cdr_tracker): seconds to wait for a call's missing CDR legs, and the
    # channel variables a dialplan sets to a recording's path.
    cdr_complete_after: float = 10.0
    cdr_recording_variables: tuple[str, ...] = ("recording_file", "record_file_path")
