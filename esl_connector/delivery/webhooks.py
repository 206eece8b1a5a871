"""What a CRM webhook request IS: one outbox event + its customer -> a
``DeliveryPlan`` of fully built ``WebhookRequest``s. No I/O; the delivery
engine sends them as they are::

    session.request(r.method, r.url, params=r.params, data=r.body,
                    headers=r.headers, auth=r.auth, timeout=...)

Wire format (defaults are the guide's, byte for byte):

* ``url`` never carries a query string; ``params`` is the whole query, in
  order: the URL template's own query, ``secret``, the contract fields (when
  ``encoding = "query"``), static extras, the call's pass-through parameters,
  then an API key sent as a query parameter. ``requests`` encodes it exactly as
  ``urllib.parse.urlencode(params)``.
* JSON bodies are compact UTF-8 (``{"callid":"...","duration":23,...}``), as
  PHP's ``json_encode`` writes them; ``Content-Type: application/json``, as the
  guide shows (RFC 8259 defines no charset parameter). Form bodies are
  urlencoded UTF-8.
* Contract fields have their contract types (``duration``/``billsec`` ints,
  the rest strings, "" when absent) and always win: an extra or pass-through
  parameter with a contract field's name, ``secret`` or the API key's name is
  dropped. Static extras win over pass-through parameters of the same name.
* Headers: ``User-Agent``, ``X-Event-Id`` (the outbox event id: the same on
  every retry, so a CRM can drop duplicates) and, with a signing secret, the
  Standard Webhooks ``webhook-id`` (= the event id), ``webhook-timestamp``,
  ``webhook-signature: v1,<base64 HMAC-SHA256>`` over ``{id}.{timestamp}.{payload}``
  where payload is the body, or, for a request without a body, the query
  string exactly as sent (what PHP calls ``$_SERVER['QUERY_STRING']``) so the
  parameters of a GET are signed too. Build a plan for every attempt: the
  timestamp must be fresh (receivers reject old ones), the ids do not change.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from functools import lru_cache
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit

from requests.auth import AuthBase, HTTPBasicAuth, HTTPDigestAuth

from .. import __version__
from ..settings.customers import (
    CONTRACT_FIELDS,
    INT_FIELDS,
    AuthSettings,
    Customer,
    CustomerDirectory,
    EndpointSettings,
)
from .types import DeliveryPlan, WebhookRequest

log = logging.getLogger(__name__)

USER_AGENT = f"esl-connector/{__version__}"
EVENT_ID_HEADER = "X-Event-Id"
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"
MASK = "***"
MIN_REDACTED = 4
# recording_url(path FreeSWITCH reported, customer, now) -> the URL the CRM fetches ("" for none)
RecordingUrl = Callable[[str, Customer, float], str]


class CustomerRemoved(Exception):
    """The row's customer is no longer in the configuration: kept, not sent."""

    def __init__(self, code: str):
        super().__init__(f"customer {code} is no longer in the configuration; the row is kept "
                         f"and sent if the customer is configured again")


class BearerAuth(AuthBase):
    """``Authorization: Bearer <token>``."""

    def __init__(self, token: str):
        self.token = token

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request

    def __eq__(self, other):
        return isinstance(other, BearerAuth) and other.token == self.token

    def __repr__(self) -> str:
        return "BearerAuth(***)"


class ApiKeyAuth(AuthBase):
    """An API key in a header (``X-API-Key: <key>`` by default). A key sent as
    a query parameter is put in ``WebhookRequest.params`` instead, so that it
    is signed and shown masked in ``redacted_url``."""

    def __init__(self, key: str, header: str = "X-API-Key"):
        self.key, self.header = key, header

    def __call__(self, request):
        request.headers[self.header] = self.key
        return request

    def __eq__(self, other):
        return isinstance(other, ApiKeyAuth) and (other.key, other.header) == (self.key, self.header)

    def __repr__(self) -> str:
        return f"ApiKeyAuth({self.header}: ***)"


def auth_object(auth: AuthSettings) -> AuthBase | None:
    """The ``requests`` auth for these settings (None: none, or key in query)."""
    if auth.type == "basic":
        return HTTPBasicAuth(auth.username, auth.password)
    if auth.type == "digest":
        return HTTPDigestAuth(auth.username, auth.password)
    if auth.type == "bearer":
        return BearerAuth(auth.token)
    if auth.type == "api_key" and not auth.query:
        return ApiKeyAuth(auth.token, auth.header)
    return None


def contract_fields(event_type: str, params: dict) -> dict[str, str | int]:
    """The contract's fields of one event, in the guide's order and types."""
    fields: dict[str, str | int] = {}
    for name in CONTRACT_FIELDS[event_type]:
        value = params.get(name)
        fields[name] = _as_int(name, value) if name in INT_FIELDS else ("" if value is None else str(value))
    return fields


def _as_int(name: str, value: object) -> int:
    try:
        return int(float(value)) if isinstance(value, str) else int(value or 0)
    except (TypeError, ValueError, OverflowError):
        log.warning("call log field %s=%r is not a number; sending 0", name, value)
        return 0


def build_plan(event, customer: Customer, call_params: dict[str, str] | None = None, *,
               now: float | None = None, user_agent: str = USER_AGENT,
               recording_url: RecordingUrl | None = None) -> DeliveryPlan:
    """Every request for one outbox event (a ``StoredEvent``), in plan order.
    ``recording_url(path, customer, now)`` turns the call log's stored
    ``recording`` (FreeSWITCH's file path) into the URL sent, at every attempt
    (``recordings.Recordings.url_for``); without it the value is sent as stored."""
    try:
        endpoint = customer.events[event.event_type]
    except KeyError:
        raise ValueError(f"customer {customer.code!r} has no endpoint for {event.event_type!r}") from None
    params = event.params or {}
    if recording_url is not None and params.get("recording"):
        params = {**params, "recording": recording_url(str(params["recording"]), customer,
                                                       time.time() if now is None else now)}
    fields = contract_fields(event.event_type, params)
    extras = dict(endpoint.params)
    if endpoint.passthrough:
        for key, value in (call_params or {}).items():
            extras.setdefault(str(key), "" if value is None else str(value))
    timestamp = int(time.time() if now is None else now)
    requests = [_request(url, endpoint, customer, fields, extras, event.event_id, timestamp, user_agent)
                for url in endpoint.urls]
    return DeliveryPlan(event.event_id, customer.code, endpoint.mode, requests, endpoint.expire_after)


def planner(directory: CustomerDirectory, *, user_agent: str = "",
            clock: Callable[[], float] = time.time,
            recording_url: RecordingUrl | None = None) -> Callable[..., DeliveryPlan | None]:
    """The delivery engine's ``plan_for(event, call_params)``: the plan for the
    customer owning the event's extension, None when nobody owns it. A row
    already planned for a customer no longer configured (a reload or restart
    removed it) whose extension nobody owns now is not skipped: it raises
    ``CustomerRemoved`` and stays retrying, sent if the customer comes back."""
    def plan_for(event, call_params: dict | None = None) -> DeliveryPlan | None:
        customer = directory.owner(event.extension, event.domain)
        if customer is None:
            if event.customer and directory.get(event.customer) is None:
                raise CustomerRemoved(event.customer)
            return None
        return build_plan(event, customer, call_params, now=clock(), user_agent=user_agent or USER_AGENT,
                          recording_url=recording_url)
    return plan_for


def _request(url: str, endpoint: EndpointSettings, customer: Customer, fields: dict, extras: dict,
             event_id: str, timestamp: int, user_agent: str) -> WebhookRequest:
    parts = urlsplit(url)
    auth = endpoint.auth
    key_param = auth.query if auth.type == "api_key" else ""
    reserved = {"secret", key_param, *fields}
    params = {k: v for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in reserved}
    secret = {"secret": customer.secret} if endpoint.secret_in != "none" else {}
    if endpoint.secret_in == "query":
        params.update(secret)
        secret = {}
    carried = {**secret, **fields, **{k: v for k, v in extras.items() if k not in reserved}}
    body: bytes | None = None
    headers = {"User-Agent": user_agent, EVENT_ID_HEADER: event_id}
    if endpoint.encoding == "query":
        for key, value in carried.items():
            params.setdefault(key, str(value))
    else:
        body = _json(carried) if endpoint.encoding == "json" else urlencode(
            [(k, str(v)) for k, v in carried.items()]).encode("ascii")
        headers["Content-Type"] = JSON_TYPE if endpoint.encoding == "json" else FORM_TYPE
    if key_param:
        params[key_param] = auth.token
    if customer.signing_key:
        payload = body if body is not None else urlencode(params).encode("ascii")
        headers.update(sign(customer.signing_key, event_id, timestamp, payload))
    bare = parts._replace(query="", fragment="").geturl()
    masked = {"secret", key_param} - {""}
    secrets = customer.secrets()
    return WebhookRequest(
        method=endpoint.method, url=bare, redacted_url=redacted_url(bare, params, masked, secrets),
        params=params, headers=headers, body=body, auth=auth_object(auth), endpoint=endpoint_of(bare),
        secrets=tuple(secrets))


def _json(data: dict) -> bytes:
    try:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: escape it rather than fail
        return json.dumps(data, separators=(",", ":")).encode("ascii")


def sign(key: bytes, msg_id: str, timestamp: int, payload: bytes) -> dict[str, str]:
    """Standard Webhooks headers for one request."""
    signed = f"{msg_id}.{timestamp}.".encode() + payload
    digest = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": f"v1,{digest}"}


def redacted_url(url: str, params: dict[str, str], masked: set[str], secrets: list[str]) -> str:
    """The URL as sent, with masked parameters and any known secret as ``***``."""
    query = "&".join(f"{_quote_plus(k)}={MASK if k in masked else _quote_plus(str(v))}"
                     for k, v in params.items())
    return redact(f"{url}?{query}" if query else url, secrets, masked)


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def _quote_plus(text: str) -> str:
    """``quote_plus``, without its cost for the usual value that needs no quoting."""
    return text if _UNRESERVED.fullmatch(text) else quote_plus(text)


@lru_cache(maxsize=1024)  # a handful of endpoints, request after request
def endpoint_of(url: str) -> str:
    """``https://crm.acme.vn/x?secret=..`` -> ``https://crm.acme.vn:443``: what the
    engine counts concurrency and health by, and never a secret (no path, no query)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a port that is not a number (a stored, redacted URL)
        port = 0
    return f"{parts.scheme}://{host}:{port}"


def redact(text: str, secrets: list[str], names: Iterable[str] = ("secret",)) -> str:
    """``text`` (a URL, an exception message...) safe to log: the value of
    every query parameter in ``names`` and every occurrence of a secret (also
    URL-encoded) become ``***``. Secrets shorter than 4 characters are only
    masked as parameter values: replacing every "p" would garble the line."""
    for name in {n for n in names if n}:
        pattern, replacement = _name_pattern(name)
        text = pattern.sub(replacement, text)
    for form in _secret_forms(tuple(secrets)):
        if form in text:
            text = text.replace(form, MASK)
    return text


@lru_cache(maxsize=256)
def _name_pattern(name: str) -> tuple[re.Pattern, str]:
    """``name=<value>`` as a query parameter, and what it becomes."""
    pattern = re.compile(rf"(?<![^?&\s\"'(]){re.escape(quote_plus(name))}=[^&\s\"')#]*")
    return pattern, f"{quote_plus(name)}={MASK}"


@lru_cache(maxsize=1024)  # a customer's secrets are the same request after request
def _secret_forms(secrets: tuple[str, ...]) -> tuple[str, ...]:
    """Each secret as it may appear (also URL-encoded), longest first."""
    forms = {f for s in secrets if len(s) >= MIN_REDACTED for f in (s, quote_plus(s), quote(s, safe=""))}
    return tuple(sorted(forms, key=len, reverse=True))
