"""``[customers.click2call]`` and ``[customers.webphone]`` tables -> settings,
every problem reported with its key path (called by ``customer_config``,
whose ``_Table`` getters it uses), plus what the wiring needs from them:
``webphone_policy(directory)`` for ``TrackerSettings.webphone``,
``userfield_header(directory)`` for ``TrackerSettings.userfield_header`` and
``phone_rules(directory)`` for ``TrackerSettings.phone_rules`` (the ``phone_*``
keys apply to every phone the customer's CRM gets, not only click-to-call).

The click-to-call secret may come from ``<P>CLICK2CALL_SECRET``
(``<P>`` = ``ESL_CONNECTOR_CUSTOMER_<CODE>_``), which wins over the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .customers import (
    CALLER_ID_NAME,
    CALLER_ID_NUMBER,
    DOMAIN_TOKEN,
    NAME_TOKEN,
    Click2CallConfig,
    CustomerDirectory,
    ExtensionRange,
    PhoneRules,
    Route,
    WebphoneConfig,
    parse_extensions,
)
from .errors import ConfigError

CLICK2CALL_KEYS = ("enabled", "secret", "gateway", "context", "dialplan", "domain", "caller_id_number",
                   "caller_id_name", "originate_timeout", "phone_strip", "phone_prefixes",
                   "phone_min_digits", "phone_max_digits", "phone_placeholder", "reject_when_busy",
                   "reject_when_offline")
WEBPHONE_KEYS = ("extensions", "transports", "userfield_header")
TRANSPORTS = ("udp", "tcp", "tls", "ws", "wss")
TIMEOUT_RANGE = (5, 600)
_HEADER = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
_PREFIX_FROM = re.compile(r"\+?[0-9]{1,8}")
_PREFIX_TO = re.compile(r"\+?[0-9]{0,8}")
_PLACEHOLDER = re.compile(r"[A-Za-z0-9+_.-]{0,32}")


def _token(t: Any, key: str, pattern: re.Pattern, what: str, default: str = "") -> str:
    value = t.text(key, default)
    if value and not pattern.fullmatch(value):
        t.problem(key, f"{value!r} is not {what}")
        return default
    return value


def _integer(t: Any, key: str, default: int, low: int, high: int) -> int:
    value = t.data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        t.problem(key, f"expected a whole number from {low} to {high}")
        return default
    return value


def _route(t: Any) -> Route:
    gateway = _token(t, "gateway", NAME_TOKEN, "a gateway name (letters, digits, _ . -)")
    if t.has("gateway") and (t.has("context") or t.has("dialplan")):
        t.problem("gateway", "give gateway, or context (and dialplan), not both")
    number = _token(t, "caller_id_number", CALLER_ID_NUMBER, "a number (digits, optional leading +)")
    if t.has("gateway") and not number:
        t.problem("caller_id_number", "required with gateway: the number the customer sees")
    return Route(
        gateway=gateway,
        context=_token(t, "context", NAME_TOKEN, "a dialplan context name", "default"),
        dialplan=_token(t, "dialplan", NAME_TOKEN, "a dialplan name", "XML"),
        caller_id_number=number,
        caller_id_name=_token(t, "caller_id_name", CALLER_ID_NAME,
                              "a caller ID name (letters, digits, . - _ and single spaces)"))


def _phone_rules(t: Any) -> PhoneRules:
    defaults = PhoneRules()
    strip = t.data.get("phone_strip", defaults.strip)
    if not isinstance(strip, str) or any(c.isdigit() or c == "+" for c in strip):
        t.problem("phone_strip", "expected a string of separator characters (no digits or +)")
        strip = defaults.strip
    raw = t.data.get("phone_prefixes", {})
    prefixes = []
    if not isinstance(raw, dict):
        t.problem("phone_prefixes", 'expected a table like { "+84" = "0", "84" = "0" }')
        raw = {}
    for old, new in raw.items():
        if not _PREFIX_FROM.fullmatch(old) or not isinstance(new, str) or not _PREFIX_TO.fullmatch(new):
            t.problem(f"phone_prefixes.{old}", "prefixes are digits with an optional leading +")
        else:
            prefixes.append((old, new))
    low = _integer(t, "phone_min_digits", defaults.min_digits, 1, 20)
    high = _integer(t, "phone_max_digits", defaults.max_digits, 1, 20)
    if low > high:
        t.problem("phone_min_digits", "is greater than phone_max_digits")
    placeholder = _token(t, "phone_placeholder", _PLACEHOLDER,
                         "a placeholder (at most 32 letters, digits, + _ . -; \"\" for empty)")
    return PhoneRules(strip=strip, prefixes=tuple(prefixes), min_digits=low, max_digits=high,
                      placeholder=placeholder)


def click2call_config(t: Any, env: Mapping[str, str], prefix: str) -> Click2CallConfig:
    """``t``: the customer's ``click2call`` sub-table (a ``customer_config._Table``)."""
    secret = (env.get(prefix + "CLICK2CALL_SECRET") if prefix else "") or t.text("secret")
    return Click2CallConfig(
        enabled=t.flag("enabled", True), secret=secret, route=_route(t),
        domain=_token(t, "domain", DOMAIN_TOKEN, "a domain name"),
        originate_timeout=_integer(t, "originate_timeout", 30, *TIMEOUT_RANGE),
        phone=_phone_rules(t),
        reject_when_busy=t.flag("reject_when_busy", True),
        reject_when_offline=t.flag("reject_when_offline", True))


def webphone_config(t: Any) -> WebphoneConfig:
    """``t``: the customer's ``webphone`` sub-table."""
    extensions: tuple[ExtensionRange, ...] = ()
    value = t.data.get("extensions")
    if value is not None:
        try:
            if isinstance(value, str) or isinstance(value, list) and all(isinstance(v, str) for v in value):
                extensions = parse_extensions(value)
            else:
                raise ValueError('expected "101-150,200" or a list of such strings')
        except ValueError as exc:
            t.problem("extensions", str(exc))
    transports = {v.lower() for v in t.texts("transports")}
    for unknown in sorted(transports - set(TRANSPORTS)):
        t.problem("transports", f"{unknown!r} is not one of {', '.join(TRANSPORTS)}")
    header = _token(t, "userfield_header", _HEADER, "a SIP header name (letters, digits, -)")
    return WebphoneConfig(extensions=extensions, transports=frozenset(transports & set(TRANSPORTS)),
                          userfield_header=header)


def webphone_policy(directory: CustomerDirectory) -> Callable[[str, str, str], bool]:
    """``TrackerSettings.webphone``: is the calling leg (extension, domain,
    sip_via_protocol) a webphone of the customer that owns the extension?"""
    def is_webphone(extension: str, domain: str, transport: str) -> bool:
        customer = directory.owner(extension, domain)
        return customer is not None and customer.webphone.matches(extension, transport or "")
    return is_webphone


def phone_rules(directory: CustomerDirectory) -> Callable[[str, str], PhoneRules]:
    """``TrackerSettings.phone_rules``: the rules of the customer owning the
    extension (extension, domain); the defaults when nobody owns it."""
    defaults = PhoneRules()

    def rules_for(extension: str, domain: str) -> PhoneRules:
        customer = directory.owner(extension, domain)
        return customer.click2call.phone if customer is not None else defaults
    return rules_for


def userfield_header(directory: CustomerDirectory, default: str = "X-Userfield") -> str:
    """``TrackerSettings.userfield_header``: the tracker reads one header, so
    customers that name one must agree (else ``ConfigError``)."""
    names = sorted({c.webphone.userfield_header for c in directory.customers if c.webphone.userfield_header},
                   key=str.lower)
    if len({n.lower() for n in names}) > 1:
        raise ConfigError([f"customers: webphone.userfield_header differs between customers ({', '.join(names)});"
                           " the tracker reads a single header"])
    return names[0] if names else default
