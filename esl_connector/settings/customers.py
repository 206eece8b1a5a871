"""Customers (tenants): which extensions each one owns, and how its CRM wants
the contract's webhooks. Plain data plus ``CustomerDirectory``; the TOML is
read and checked by ``customer_config.parse_customers``.

Ownership, as ``CustomerDirectory.owner(extension, domain)`` decides it:

1. A customer whose ``extensions`` include the extension owns it. When that
   customer also lists ``domains``, only in those domains (the extension list
   is scoped, for a multi-domain PBX where 101 exists in several domains).
2. Otherwise a customer that lists only ``domains`` owns every extension of
   the call's FreeSWITCH domain (case-insensitive).
3. Otherwise nobody owns it, and the event produces no webhook.

So an explicit extension list always wins over a whole-domain match, and
``parse_customers`` rejects two customers that could match in the same step,
so the answer never depends on the order of the file.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..records import CALL_LOG, INCOMING_CALL, OUTGOING_CALL
from .phones import PhoneRules

EVENT_TYPES = (INCOMING_CALL, OUTGOING_CALL, CALL_LOG)
SINGLE = "single"      # one URL
FAILOVER = "failover"  # try the next URL on a connection error, timeout or 5xx
PARALLEL = "parallel"  # send to every URL; delivered when any one returns 2xx

# Configuration values that go into the dial string (checked when the TOML is read).
NAME_TOKEN = re.compile(r"[A-Za-z0-9_.\-]{1,64}")      # gateway, context, dialplan
DOMAIN_TOKEN = re.compile(r"[A-Za-z0-9.\-]{1,253}")
CALLER_ID_NUMBER = re.compile(r"\+?[0-9]{1,20}")
CALLER_ID_NAME = re.compile(r"[\w.\-]+( [\w.\-]+)*", re.UNICODE)   # single inner spaces


METHODS = ("GET", "POST", "PUT")
ENCODINGS = ("query", "json", "form")       # where the parameters go
SECRET_PLACES = ("query", "body", "none")   # where `secret` goes
AUTH_TYPES = ("none", "api_key", "bearer", "basic", "digest")
BACKUP_MODES = (FAILOVER, PARALLEL)
MODES = (SINGLE, FAILOVER, PARALLEL)
DEFAULT_URL = "{base}/wsapi/{customer}/{event}"
URL_PLACEHOLDERS = ("base", "customer", "event", "domain_crm")
DEFAULT_API_KEY_HEADER = "X-API-Key"

# The guide's defaults: (method, encoding). `secret` is in the query for all three.
EVENT_DEFAULTS = {
    INCOMING_CALL: ("GET", "query"),
    OUTGOING_CALL: ("GET", "query"),
    CALL_LOG: ("POST", "json"),
}

# The contract's fields per event, in the guide's order (query and JSON alike).
CONTRACT_FIELDS = {
    INCOMING_CALL: ("phone", "extension", "callid"),
    OUTGOING_CALL: ("phone", "extension", "callid"),
    CALL_LOG: ("callid", "calldate", "extension", "phone", "duration", "billsec",
               "status", "recording", "userfield"),
}
INT_FIELDS = frozenset({"duration", "billsec"})


def env_prefix(code: str) -> str:
    """``acme-hn`` -> ``ESL_CONNECTOR_CUSTOMER_ACME_HN_`` (then SECRET, ...)."""
    return "ESL_CONNECTOR_CUSTOMER_" + re.sub(r"[^A-Z0-9]", "_", code.upper()) + "_"


@dataclass(frozen=True, slots=True)
class ExtensionRange:
    """``first..last`` as ``config.parse_extension_range`` expands it: numbers
    zero-padded to ``width`` (the length of the range's first number)."""

    first: int
    last: int
    width: int

    def __contains__(self, extension: object) -> bool:
        if not isinstance(extension, str) or not extension.isdigit() or not extension.isascii():
            return False
        number = int(extension)
        return self.first <= number <= self.last and extension == str(number).zfill(self.width)

    def overlaps(self, other: ExtensionRange) -> bool:
        """True when some extension string is in both ranges."""
        low, high = max(self.first, other.first), min(self.last, other.last)
        if self.width != other.width:  # equal strings need >= max(width) digits
            low = max(low, 10 ** (max(self.width, other.width) - 1))
        return low <= high

    def __str__(self) -> str:
        first = str(self.first).zfill(self.width)
        return first if self.first == self.last else f"{first}-{self.last}"


def parse_extensions(spec: str | Iterable[str | int]) -> tuple[ExtensionRange, ...]:
    """``"101-150,200"`` (or ``["101-150", 200]``) -> ranges, never expanded.
    Same syntax as ``config.parse_extension_range``, without its size cap."""
    parts = spec.split(",") if isinstance(spec, str) else [str(p) for p in spec]
    ranges: list[ExtensionRange] = []
    for part in filter(None, (p.strip() for p in parts)):
        first, sep, last = part.partition("-")
        if not (first.isdigit() and first.isascii()) or (sep and not (last.isdigit() and last.isascii())):
            raise ValueError(f"{part!r} is not a number or a range like 101-150")
        low, high = int(first), int(last) if sep else int(first)
        if high < low:
            raise ValueError(f"range {part!r} is empty")
        ranges.append(ExtensionRange(low, high, len(first)))
    if not ranges:
        raise ValueError("no extensions given")
    return tuple(ranges)


@dataclass(slots=True)
class AuthSettings:
    """How requests authenticate to the CRM. ``api_key`` goes in the header
    ``header`` (default X-API-Key) or, when ``query`` names a parameter, there."""

    type: str = "none"
    username: str = ""
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)  # Bearer token or API key
    header: str = ""
    query: str = ""

    def secrets(self) -> list[str]:
        return [s for s in (self.password, self.token) if s]


@dataclass(slots=True)
class EndpointSettings:
    """One event type of one customer, fully resolved: ``urls`` are concrete
    (placeholders filled, backups derived), primary first."""

    event: str
    method: str
    encoding: str
    urls: tuple[str, ...]
    mode: str = SINGLE          # SINGLE | FAILOVER | PARALLEL
    secret_in: str = "query"
    params: dict[str, str] = field(default_factory=dict)  # static extra parameters
    passthrough: bool = True    # return the call's click-to-call parameters
    auth: AuthSettings = field(default_factory=AuthSettings)
    # start events only: older than this (seconds) when they could be sent -> "expired",
    # never sent late (a screen pop after the call is noise for some CRMs); 0 = always deliver
    expire_after: float = 0.0


@dataclass(frozen=True, slots=True)
class Route:
    """Where the customer's number is dialled once the agent answers."""

    gateway: str = ""               # sofia/gateway/<gateway>/<number>
    context: str = "default"        # else: transfer to <number> in this context
    dialplan: str = "XML"
    caller_id_number: str = ""      # presented to the customer
    caller_id_name: str = ""


@dataclass(slots=True)
class Click2CallConfig:
    """``[customers.click2call]``: how the CRM's click-to-call requests are
    authenticated, checked and dialled (docs/click2call.md)."""

    enabled: bool = True
    secret: str = field(default="", repr=False)  # "" = the customer's secret
    route: Route = field(default_factory=Route)   # gateway, or dialplan context
    domain: str = ""                # user/<ext>@<domain>; "" = where it registered
    originate_timeout: int = 30     # seconds the agent's phone rings
    phone: PhoneRules = field(default_factory=PhoneRules)
    reject_when_busy: bool = True   # 409 while the extension rings or talks
    reject_when_offline: bool = True  # 409 while it is not registered


@dataclass(slots=True)
class WebphoneConfig:
    """``[customers.webphone]``: which calling legs are the CRM's webphone,
    whose SIP Call-ID is the call's userfield. Every criterion set must match."""

    extensions: tuple[ExtensionRange, ...] = ()
    transports: frozenset[str] = frozenset()  # sip_via_protocol: ws, wss, udp, tcp, tls
    userfield_header: str = ""                # e.g. X-Userfield (read as sip_h_X-Userfield)

    @property
    def enabled(self) -> bool:
        return bool(self.extensions or self.transports)

    def matches(self, extension: str, transport: str) -> bool:
        if not self.enabled:
            return False
        if self.extensions and not any(extension in r for r in self.extensions):
            return False
        return not self.transports or transport.lower() in self.transports


@dataclass(slots=True)
class Customer:
    code: str
    secret: str = field(default="", repr=False)
    base: str = ""         # scheme://host[:port][/prefix] from domain_crm; "" if unset
    extensions: tuple[ExtensionRange, ...] = ()
    domains: frozenset[str] = frozenset()
    signing_secret: str = field(default="", repr=False)
    params: dict[str, str] = field(default_factory=dict)      # customer-wide static params
    backups: tuple[str, ...] = ()                             # backup bases
    backup_mode: str = FAILOVER
    auth: AuthSettings = field(default_factory=AuthSettings)  # customer-wide auth
    events: dict[str, EndpointSettings] = field(default_factory=dict)
    # a reverse proxy serving the recordings directory: the call log's recording is
    # then "{recordings_base_url}/{path relative to the directory}", unsigned ("" = signed links)
    recordings_base_url: str = ""
    click2call: Click2CallConfig = field(default_factory=Click2CallConfig)
    webphone: WebphoneConfig = field(default_factory=WebphoneConfig)

    @property
    def click2call_secret(self) -> str:
        """The secret a click-to-call request must carry (issued by the PBX side)."""
        return self.click2call.secret or self.secret

    @property
    def domain_crm(self) -> str:
        """The ``{domain_crm}`` placeholder: host[:port] of ``base``."""
        return self.base.split("://", 1)[-1].split("/", 1)[0]

    @property
    def signing_key(self) -> bytes | None:
        """Standard Webhooks key: ``whsec_<base64>`` decoded, else the raw bytes."""
        if not self.signing_secret:
            return None
        if self.signing_secret.startswith("whsec_"):
            return base64.b64decode(self.signing_secret[len("whsec_"):], validate=True)
        return self.signing_secret.encode("utf-8")

    def owns(self, extension: str, domain: str) -> bool:
        domain = domain.lower()
        if self.extensions:
            in_list = any(extension in r for r in self.extensions)
            return in_list and (not self.domains or domain in self.domains)
        return domain in self.domains

    def secrets(self) -> list[str]:
        """Every secret this customer's requests may carry: for ``redact``."""
        found = [self.secret, self.signing_secret, self.click2call.secret, *self.auth.secrets()]
        for endpoint in self.events.values():
            found += endpoint.auth.secrets()
        return sorted({s for s in found if s}, key=len, reverse=True)

    def secret_params(self) -> set[str]:
        """Query parameters whose value is a secret: ``secret`` and API keys."""
        auths = [self.auth, *(e.auth for e in self.events.values())]
        return {"secret", *(a.query for a in auths if a.type == "api_key" and a.query)}


class CustomerDirectory:
    """Which customer an event belongs to (the rule is in the module doc)."""

    def __init__(self, customers: Iterable[Customer]):
        self.replace(customers)

    def replace(self, customers: Iterable[Customer]) -> None:
        """Take a new set of customers (a reload). The indexes are built first
        and bound without yielding, so no greenlet ever sees half of each."""
        listed = list(customers)
        by_code = {c.code: c for c in listed}
        explicit = [c for c in listed if c.extensions]
        by_domain = {d: c for c in listed if not c.extensions for d in c.domains}
        self.customers, self._by_code, self._explicit, self._by_domain = listed, by_code, explicit, by_domain

    def owner(self, extension: str, domain: str) -> Customer | None:
        for customer in self._explicit:
            if customer.owns(extension, domain):
                return customer
        return self._by_domain.get(domain.lower())

    def get(self, code: str) -> Customer | None:
        return self._by_code.get(code)

    def __len__(self) -> int:
        return len(self.customers)


__all__ = [
    "AuthSettings",
    "Click2CallConfig",
    "Customer",
    "CustomerDirectory",
    "EndpointSettings",
    "ExtensionRange",
    "env_prefix",
    "parse_extensions",
    "PhoneRules",
    "WebphoneConfig",
]
