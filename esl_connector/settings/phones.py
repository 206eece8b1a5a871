"""Phone numbers and other text that comes from SIP: pure functions, no I/O.

One normalisation for every ``phone`` the connector accepts (click-to-call)
or sends (``incoming_call``, ``outgoing_call``, the call log), per customer
(``PhoneRules``, the ``phone_*`` keys of ``[customers.click2call]``):

1. characters of ``strip`` are removed (default ``" -.()"``);
2. what is left must be ASCII digits with at most one leading ``+``;
3. the longest matching ``prefixes`` entry is rewritten (``+84`` -> ``0``);
4. the digit count must be within ``min_digits`` .. ``max_digits``.

``normalise`` raises ``PhoneError`` for a value that is not a number;
``crm_phone`` is what the CRM gets instead: the customer's ``placeholder``.

``sip_text`` makes any caller-controlled text (caller ID numbers and names,
SIP headers, User-Agent) safe to store, log and show: control characters
become visible escapes (a newline is the two characters ``\\n``) and the
length is capped, so the raw value is kept for the admin without ever
putting a line break, a NUL or 2 KB of attacker text in a column or screen.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

PHONE_MAX_INPUT = 64       # longer is refused before anything else is looked at
SIP_TEXT_MAX = 128         # characters of SIP text kept (then "...")
_PHONE = re.compile(r"\+?[0-9]+")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_HIDDEN = ("Cc", "Cf", "Cs", "Zl", "Zp")  # control, format (bidi overrides), surrogates, line breaks


@dataclass(frozen=True, slots=True)
class PhoneRules:
    """How a customer's phone numbers are normalised (``[customers.click2call]``)."""

    strip: str = " -.()"                          # characters removed first
    prefixes: tuple[tuple[str, str], ...] = ()    # ("+84", "0"): the longest match is rewritten
    min_digits: int = 3
    max_digits: int = 15                          # E.164 allows at most 15
    placeholder: str = ""                         # sent instead of a phone that is not a number

    def __post_init__(self) -> None:
        longest_first = tuple(sorted(self.prefixes, key=lambda p: -len(p[0])))
        object.__setattr__(self, "prefixes", longest_first)


class PhoneError(ValueError):
    """Not a phone number under the rules; ``code`` is click-to-call's error code."""

    def __init__(self, message: str, code: str = "invalid_phone"):
        super().__init__(message)
        self.code, self.message = code, message


def normalise(raw: str, rules: PhoneRules) -> str:
    """``"+84 90-482.4242"`` -> ``"0904824242"`` (with ``+84`` -> ``0``)."""
    if not raw or not raw.strip():
        raise PhoneError("phone is required", "missing_parameter")
    if len(raw) > PHONE_MAX_INPUT:
        raise PhoneError(f"phone is longer than {PHONE_MAX_INPUT} characters")
    text = raw.strip().translate({ord(c): None for c in rules.strip})
    if not _PHONE.fullmatch(text) or not text.isascii():
        raise PhoneError(f"phone must be digits, optionally with one leading + (separators {rules.strip!r}"
                         " are ignored)")
    for old, new in rules.prefixes:
        if text.startswith(old):
            text = new + text[len(old):]
            break
    digits = len(text.lstrip("+"))
    if not rules.min_digits <= digits <= rules.max_digits:
        raise PhoneError(f"phone must have {rules.min_digits} to {rules.max_digits} digits")
    return text


def crm_phone(raw: str, rules: PhoneRules) -> tuple[str, str]:
    """(the value the CRM gets, why ``raw`` is not a number or "")."""
    try:
        return normalise(raw, rules), ""
    except PhoneError as exc:
        return rules.placeholder, exc.message


def sip_text(value: str, limit: int = SIP_TEXT_MAX) -> str:
    """``value`` with control and format characters (C0, C1, DEL, bidi
    overrides, lone surrogates, line separators) as visible escapes, cut to
    ``limit`` characters (marked by ``...``)."""
    if value.isprintable() and len(value) <= limit:
        return value  # the common case: nothing to do
    out = []
    for char in value:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif unicodedata.category(char) in _HIDDEN:
            out.append(f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")
        else:
            out.append(char)
    text = "".join(out)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def log_value(value: str, limit: int = 200) -> str:
    """A caller-controlled value for a log line: quoted, escaped, cut."""
    note = f" ({len(value)} characters)" if len(value) > limit else ""
    return f'"{sip_text(value, limit)}"{note}'
