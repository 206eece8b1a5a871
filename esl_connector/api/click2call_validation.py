"""What a CRM may send to click-to-call, checked before anything reaches FreeSWITCH.

Pure functions, no I/O. Every value that ends up in the ``originate``
command is checked against an allow-list here (``InvalidParameter`` names
the parameter and says what is allowed); ``click2call_originate`` only
assembles values that passed, and checks them again.

* ``phone``: ``PhoneRules`` strip separators, then the whole value must be
  ASCII digits with at most one leading ``+``; a configured prefix is
  rewritten (``+84`` -> ``0``); the digit count must be within bounds.
* ``extension``: ASCII digits only (ownership is decided by the customer).
* ``userfield``: letters, digits and marks of any script, plus
  ``- _ . : @ / + # = * ! ? ~ %`` and single inner spaces; never ``:_:``
  (FreeSWITCH's enterprise-originate separator). Everything FreeSWITCH's
  dial-string parsers give a meaning to is refused: ``{ } [ ] < > , ' "
  \\ | & $ ^ ( ) ;`` and every control character (newlines included).
* other parameters ("environment parameters") never reach FreeSWITCH: they
  are stored and returned with the call's webhooks, so only their names,
  number and size are limited, and control characters are refused.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from ..settings import phones
from ..settings.phones import PhoneRules

CONTROL_PARAMS = ("secret", "extension", "phone", "userfield")

PHONE_MAX_INPUT = phones.PHONE_MAX_INPUT
_EXTENSION = re.compile(r"[0-9]{1,16}")
_PARAM_NAME = re.compile(r"[A-Za-z0-9_.\-\[\]]{1,64}")
USERFIELD_PUNCTUATION = frozenset("-_.:@/+#=*!?~%")
ENTERPRISE_DELIMITER = ":_:"

class InvalidParameter(ValueError):
    """A request parameter that cannot be used; ``code`` is the API error code."""

    def __init__(self, name: str, message: str, code: str = "invalid_parameter"):
        super().__init__(message)
        self.name, self.code, self.message = name, code, message


def normalise_phone(raw: str, rules: PhoneRules) -> str:
    """``"+84 90-482.4242"`` -> ``"0904824242"`` (with ``+84`` -> ``0``): the
    rules every phone of the customer follows (``settings.phones``)."""
    try:
        return phones.normalise(raw, rules)
    except phones.PhoneError as exc:
        raise InvalidParameter("phone", exc.message, exc.code) from None


def check_extension(raw: str) -> str:
    value = (raw or "").strip()
    if not value:
        raise InvalidParameter("extension", "extension is required", "missing_parameter")
    if not _EXTENSION.fullmatch(value):
        raise InvalidParameter("extension", "extension must be digits", "invalid_extension")
    return value


def userfield_problem(value: str) -> str:
    """Why ``value`` cannot travel as a channel variable ("" when it can)."""
    if value != value.strip() or "  " in value:
        return "no leading, trailing or double spaces"
    if ENTERPRISE_DELIMITER in value:
        return f"{ENTERPRISE_DELIMITER!r} is FreeSWITCH's originate separator"
    for char in value:
        if char == " " or char in USERFIELD_PUNCTUATION or unicodedata.category(char)[0] in "LNM":
            continue
        return (f"{char!r} is not allowed (letters, digits, single spaces and "
                f"{' '.join(sorted(USERFIELD_PUNCTUATION))} are)")
    return ""


def check_userfield(raw: str | None, max_length: int) -> str:
    value = (raw or "").strip()
    if len(value) > max_length:
        raise InvalidParameter("userfield", f"userfield is longer than {max_length} characters",
                               "invalid_userfield")
    why = userfield_problem(value)
    if why:
        raise InvalidParameter("userfield", f"userfield: {why}", "invalid_userfield")
    return value


def extra_params(items: Iterable[tuple[str, str]], max_count: int, max_length: int) -> dict[str, str]:
    """The CRM's other parameters, kept verbatim (they never reach FreeSWITCH)."""
    params: dict[str, str] = {}
    for name, value in items:
        if not _PARAM_NAME.fullmatch(name):
            raise InvalidParameter(name, f"parameter name {name[:64]!r} is not allowed "
                                         "(letters, digits, _ . - [ ], at most 64)")
        if len(value) > max_length:
            raise InvalidParameter(name, f"{name} is longer than {max_length} characters")
        if any(unicodedata.category(c) == "Cc" for c in value):
            raise InvalidParameter(name, f"{name} contains control characters")
        params[name] = value
    if len(params) > max_count:
        raise InvalidParameter("", f"at most {max_count} extra parameters are accepted")
    return params
