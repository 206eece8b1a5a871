"""``[[customers]]`` TOML tables -> ``Customer``s, with every problem reported
by its key path (``customers[1].events.call_answered.method: must be GET, POST
or PUT``). No I/O beyond reading the environment mapping it is given.

Secrets may come from the environment, which wins over the file
(``<P>`` = ``ESL_CONNECTOR_CUSTOMER_<CODE>_``, code upper-cased, non-alphanumerics
as ``_``): ``<P>SECRET``, ``<P>SIGNING_SECRET``, ``<P>AUTH_PASSWORD`` (basic,
digest) and ``<P>AUTH_TOKEN`` (bearer, api_key) for the customer's ``[auth]``.
An event's own ``auth`` table replaces the customer's and takes no env values.
"""

from __future__ import annotations

import binascii
import itertools
import os
import re
from collections.abc import Callable, Mapping
from string import Formatter
from typing import Any
from urllib.parse import urlsplit

from ..records import CALL_LOG
from .click2call_config import CLICK2CALL_KEYS, WEBPHONE_KEYS, click2call_config, webphone_config
from .customers import (
    AUTH_TYPES,
    BACKUP_MODES,
    CONTRACT_FIELDS,
    DEFAULT_API_KEY_HEADER,
    DEFAULT_URL,
    ENCODINGS,
    EVENT_DEFAULTS,
    EVENT_TYPES,
    FAILOVER,
    METHODS,
    SECRET_PLACES,
    SINGLE,
    URL_PLACEHOLDERS,
    AuthSettings,
    Customer,
    EndpointSettings,
    env_prefix,
    parse_extensions,
)
from .errors import ConfigError

CUSTOMER_KEYS = ("code", "domain_crm", "secret", "signing_secret", "extensions", "domains",
                 "params", "backup_domains", "backup_mode", "auth", "events", "recordings_base_url",
                 "click2call", "webphone")
EVENT_KEYS = ("method", "encoding", "url", "secret_in", "params", "passthrough", "auth",
              "backup_urls", "backup_mode", "expire_after")
AUTH_KEYS = ("type", "username", "password", "token", "header", "query")
AUTH_USES = {"none": (), "api_key": ("token", "header", "query"), "bearer": ("token",),
             "basic": ("username", "password"), "digest": ("username", "password")}
SECRET_KEYS = frozenset({"secret", "signing_secret", "password", "token"})
AUTH_ENV = {"password": "AUTH_PASSWORD", "token": "AUTH_TOKEN"}
CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # the outbox's customer column holds 64
HOST = re.compile(r"[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]")
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP header name
ALL_FIELDS = frozenset(itertools.chain(*CONTRACT_FIELDS.values()))


def parse_customers(raw: object, env: Mapping[str, str] | None = None) -> list[Customer]:
    env = os.environ if env is None else env
    problems: list[str] = []
    if not isinstance(raw, list):
        raise ConfigError(["customers: expected [[customers]] tables"])
    parsed = [(f"customers[{i}]", _customer(_Table(data, f"customers[{i}]", CUSTOMER_KEYS, problems), env))
              for i, data in enumerate(raw)]
    _check_conflicts(parsed, problems)
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))
    return [customer for _, customer in parsed]


def _words(choices: tuple[str, ...]) -> str:
    return ", ".join(choices[:-1]) + " or " + choices[-1] if len(choices) > 1 else choices[0]


class _Table:
    """One TOML table: typed getters that record problems under key paths."""

    def __init__(self, data: Any, path: str, known: tuple[str, ...], problems: list[str]):
        self.path, self.problems = path, problems
        if not isinstance(data, dict):
            problems.append(f"{path}: expected a table")
            data = {}
        self.data = data
        for key in data:
            if key not in known:
                self.problem(key, f"unknown key (known: {', '.join(known)})")

    def problem(self, key: str, why: str) -> None:
        self.problems.append(f"{self.path}.{key}: {why}" if key else f"{self.path}: {why}")

    def has(self, key: str) -> bool:
        return key in self.data

    def text(self, key: str, default: str = "") -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str):
            shown = "***" if key in SECRET_KEYS else repr(value)
            self.problem(key, f"expected a string, got {type(value).__name__} {shown}")
            return default
        return value if key in SECRET_KEYS else value.strip()  # a secret is used as given

    def texts(self, key: str) -> list[str]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(key, "expected a list of strings")
            return []
        return [v.strip() for v in value]

    def choice(self, key: str, choices: tuple[str, ...], default: str, norm: Callable = str.lower) -> str:
        value = norm(self.text(key, default))
        if value not in choices:
            self.problem(key, f"must be {_words(choices)}, not {self.data[key]!r}")
            return default
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            self.problem(key, "expected true or false")
            return default
        return value

    def sub(self, key: str, known: tuple[str, ...]) -> _Table:
        return _Table(self.data.get(key, {}), f"{self.path}.{key}", known, self.problems)


def _customer(t: _Table, env: Mapping[str, str]) -> Customer:
    code = t.text("code")
    if not CODE.fullmatch(code):
        t.problem("code", "required: up to 64 letters, digits, '.', '_' or '-' (it is part of every URL path)")
    prefix = env_prefix(code) if code else ""
    secret = (env.get(prefix + "SECRET") if prefix else "") or t.text("secret")
    customer = Customer(
        code=code, secret=secret, base=_base(t, "domain_crm", t.text("domain_crm")),
        extensions=_extensions(t), domains=frozenset(d.lower() for d in t.texts("domains") if d),
        signing_secret=_signing_secret(t, env.get(prefix + "SIGNING_SECRET") if prefix else None),
        params=_static_params(t, ALL_FIELDS),
        backups=tuple(_base(t, f"backup_domains[{i}]", b) for i, b in enumerate(t.texts("backup_domains"))),
        backup_mode=t.choice("backup_mode", BACKUP_MODES, FAILOVER),
        auth=_auth(t.sub("auth", AUTH_KEYS), env, prefix),
        recordings_base_url=_base(t, "recordings_base_url", t.text("recordings_base_url")))
    if not customer.extensions and not customer.domains and not t.has("extensions"):
        t.problem("extensions", "owns nothing: set extensions and/or domains")
    events = t.sub("events", EVENT_TYPES)
    for event in EVENT_TYPES:
        customer.events[event] = _endpoint(event, events.sub(event, EVENT_KEYS), customer, t.has("domain_crm"))
    if not secret and any(e.secret_in != "none" for e in customer.events.values()):
        t.problem("secret", f"empty (set it, or {prefix or 'ESL_CONNECTOR_CUSTOMER_<CODE>_'}SECRET;"
                            " or secret_in = \"none\" on every event)")
    customer.click2call = click2call_config(t.sub("click2call", CLICK2CALL_KEYS), env, prefix)
    customer.webphone = webphone_config(t.sub("webphone", WEBPHONE_KEYS))
    return customer


def _extensions(t: _Table) -> tuple:
    value = t.data.get("extensions")
    if value is None:
        return ()
    if not isinstance(value, (str, list)) or isinstance(value, list) and not all(
            isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        t.problem("extensions", 'expected "101-150,200" or a list of such strings')
        return ()
    try:
        return parse_extensions(value)
    except ValueError as exc:
        t.problem("extensions", str(exc))
        return ()


def _signing_secret(t: _Table, from_env: str | None) -> str:
    value = from_env or t.text("signing_secret")
    if value.startswith("whsec_"):
        try:
            if binascii.a2b_base64(value[6:].encode("ascii"), strict_mode=True):
                return value
        except (binascii.Error, ValueError, UnicodeEncodeError):
            pass
        t.problem("signing_secret", "whsec_ must be followed by base64 (as Standard Webhooks issues it)")
        return ""
    return value


def _static_params(t: _Table, reserved: frozenset[str] | tuple[str, ...]) -> dict[str, str]:
    raw = t.data.get("params", {})
    table = t.sub("params", tuple(raw) if isinstance(raw, dict) else ())
    params = {}
    for key, value in table.data.items():
        if key == "secret" or key in reserved:
            table.problem(key, "a contract field: extra parameters cannot override contract fields")
        elif not isinstance(value, str) or not key:
            table.problem(key, "expected a string value (quote numbers)")
        else:
            params[key] = value
    return params


def _auth(t: _Table, env: Mapping[str, str], prefix: str) -> AuthSettings:
    kind = t.choice("type", AUTH_TYPES, "none")
    values = {key: t.text(key) for key in AUTH_KEYS[1:]}
    for key, suffix in AUTH_ENV.items():
        if prefix and env.get(prefix + suffix):
            values[key] = env[prefix + suffix]
    for key in AUTH_KEYS[1:]:
        if t.has(key) and key not in AUTH_USES[kind]:
            t.problem(key, f"not used by type {kind!r}")
    needed = ("token",) if kind in ("api_key", "bearer") else AUTH_USES[kind]
    for key in needed:
        if not values[key]:
            hint = f" (or {prefix}{AUTH_ENV[key]})" if prefix and key in AUTH_ENV else ""
            t.problem(key, f"required by type {kind!r}{hint}")
    if kind == "api_key":
        if values["header"] and values["query"]:
            t.problem("query", "give header or query, not both")
        name = values["query"] or values["header"]
        if name and not TOKEN.fullmatch(name):
            t.problem("query" if values["query"] else "header", f"{name!r} is not a valid name")
        if not values["query"] and not values["header"]:
            values["header"] = DEFAULT_API_KEY_HEADER
    return AuthSettings(type=kind, **values)


def _endpoint(event: str, t: _Table, customer: Customer, base_given: bool) -> EndpointSettings:
    method, encoding = EVENT_DEFAULTS[event]
    method = t.choice("method", METHODS, method, str.upper)
    encoding = t.choice("encoding", ENCODINGS, encoding)
    if method == "GET" and encoding != "query":
        t.problem("encoding", f"{encoding!r} needs a body and GET has none: use method POST or PUT")
    secret_in = t.choice("secret_in", SECRET_PLACES, "query")
    if secret_in == "body" and encoding == "query":
        t.problem("secret_in", '"body" needs encoding "json" or "form"')
    auth = _auth(t.sub("auth", AUTH_KEYS), {}, "") if t.has("auth") else customer.auth
    reserved = ("secret", *CONTRACT_FIELDS[event])
    if auth.type == "api_key" and auth.query in reserved:
        owner = t if t.has("auth") else _customer_table(t)
        owner.problem("auth.query", f"{auth.query!r} is a contract field of {event}")
    urls = _urls(event, t, customer, base_given)
    mode = t.choice("backup_mode", BACKUP_MODES, customer.backup_mode)
    return EndpointSettings(
        event=event, method=method, encoding=encoding, urls=urls,
        mode=mode if len(urls) > 1 else SINGLE, secret_in=secret_in,
        params={**customer.params, **_static_params(t, reserved)},
        passthrough=t.flag("passthrough", True), auth=auth, expire_after=_expire_after(event, t))


def _expire_after(event: str, t: _Table) -> float:
    value = t.data.get("expire_after", 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 30 * 86400:
        t.problem("expire_after", "expected seconds from 0 (never) to 2592000")
        return 0.0
    if value and event == CALL_LOG:
        t.problem("expire_after", "a call log never expires: only incoming_call and outgoing_call")
        return 0.0
    return float(value)


def _customer_table(t: _Table) -> _Table:
    """An empty table at the customer's path, to report a customer-level key."""
    return _Table({}, t.path.split(".")[0], (), t.problems)


def _urls(event: str, t: _Table, customer: Customer, base_given: bool) -> tuple[str, ...]:
    """Primary then backups: the event's ``backup_urls``, else the same URL
    with each of the customer's ``backup_domains`` as ``{base}/{domain_crm}``."""
    template = t.text("url", DEFAULT_URL)
    if not t.has("url") and not customer.base:  # no (valid) domain_crm: reported once, there
        if not base_given:
            _customer_table(t).problem("domain_crm", "required unless every event has its own url")
        return ()
    urls = [_fill(template, customer.code, event, customer.base, t, "url")]
    if t.has("backup_urls"):
        urls += [_fill(u, customer.code, event, customer.base, t, f"backup_urls[{i}]")
                 for i, u in enumerate(t.texts("backup_urls"))]
    elif customer.backups:
        if "{base}" not in template and "{domain_crm}" not in template:
            t.problem("url", "has no {base} or {domain_crm}, so backup_domains cannot apply: set backup_urls")
        else:
            urls += [_fill(template, customer.code, event, b, t, "url") for b in customer.backups if b]
    if len(set(urls)) != len(urls):
        t.problem("backup_urls", "the same URL is listed twice")
    return tuple(u for u in urls if u)


def _fill(template: str, code: str, event: str, base: str, t: _Table, key: str) -> str:
    """A URL template with its placeholders filled, checked; "" after a problem."""
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in Formatter().parse(template) if name is not None]
    except ValueError as exc:
        t.problem(key, f"bad URL template ({exc}); placeholders: {{{'}, {'.join(URL_PLACEHOLDERS)}}}")
        return ""
    for name, spec, conv in fields:
        if name not in URL_PLACEHOLDERS or spec or conv:
            t.problem(key, f"unknown placeholder {{{name}}} (known: {{{'}, {'.join(URL_PLACEHOLDERS)}}})")
            return ""
        if name in ("base", "domain_crm") and not base:
            t.problem(key, f"uses {{{name}}} but domain_crm is not set")
            return ""
    host = base.split("://", 1)[-1].split("/", 1)[0]
    url = template.format(base=base, domain_crm=host, customer=code, event=event)
    why = _url_problem(url)
    if why:
        t.problem(key, f"{why} in {url!r}")
        return ""
    return url


def _url_problem(url: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ("http", "https"):
        return "the scheme must be http:// or https://"
    if "@" in parts.netloc:
        return "credentials in the URL: use [customers.auth]"
    host = parts.netloc.rsplit(":", 1)[0] if not parts.netloc.endswith("]") else parts.netloc
    if not parts.hostname or not HOST.fullmatch(host) or parts.fragment or " " in url:
        return "not a valid URL"
    return ""


def _base(t: _Table, key: str, value: str) -> str:
    """``crm.acme.vn`` -> ``https://crm.acme.vn``; ``http://127.0.0.1:8080/x/`` kept
    (without the trailing slash). "" when unset or after a problem."""
    if not value:
        return ""
    url = (value if "://" in value else "https://" + value).rstrip("/")
    why = _url_problem(url) or ("a query string is not allowed here" if "?" in url else "")
    if why:
        t.problem(key, f"{why} in {value!r}")
        return ""
    scheme, rest = url.split("://", 1)
    return f"{scheme.lower()}://{rest}"


def _check_conflicts(parsed: list[tuple[str, Customer]], problems: list[str]) -> None:
    """Duplicate codes, and any extension or domain two customers could own."""
    for (pa, a), (pb, b) in itertools.combinations(parsed, 2):
        if a.code and a.code == b.code:
            problems.append(f"{pb}.code: {b.code!r} is also the code of {pa}")
        elif a.code and b.code and env_prefix(a.code) == env_prefix(b.code):
            problems.append(f"{pb}.code: {b.code!r} and {pa}'s {a.code!r} share the environment "
                            f"variables {env_prefix(b.code)}*")
        scopes_meet = not a.domains or not b.domains or a.domains & b.domains
        if a.extensions and b.extensions and scopes_meet:
            pairs = [(ra, rb) for ra in a.extensions for rb in b.extensions if ra.overlaps(rb)]
            if pairs:
                problems.append(f"{pb}.extensions: {pairs[0][1]} overlaps {pa}.extensions {pairs[0][0]}"
                                " (an extension can belong to one customer only)")
        if not a.extensions and not b.extensions and a.domains & b.domains:
            problems.append(f"{pb}.domains: {', '.join(sorted(a.domains & b.domains))} also belongs to {pa}")
