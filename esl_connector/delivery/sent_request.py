"""A delivery attempt's request as it went out, safe to store and show:
method, the redacted URL, every header (those ``requests`` added too:
``Authorization`` from the auth settings, ``Content-Length``...) and the body
up to ``BODY_CAP`` bytes, every secret as ``***``.

Secret headers (Authorization, API keys, signatures, cookies...) keep only
their scheme (``Bearer ***``); other header values and the body have every
secret value the request carries replaced, and the ``secret`` field (and an
API key's parameter) masked by name in a JSON or form body, whatever its
length. No I/O; the sender calls ``as_sent`` once per attempt.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

from .types import WebhookRequest
from .webhooks import MASK, MIN_REDACTED, redact

BODY_CAP = 16 * 1024  # bytes of each body stored with its attempt
SECRET_HEADER = re.compile(r"auth|token|key|secret|signature|cookie|password", re.I)
_SCHEMES = ("Bearer", "Basic", "Digest")


def masked_names(request: WebhookRequest) -> set[str]:
    """Parameters shown as *** in the redacted URL, and ``secret``."""
    return {"secret", *(name for name, value in masked_pairs(request.redacted_url) if value == MASK)}


@lru_cache(maxsize=64)  # asked twice per attempt (its secrets, its stored request)
def masked_pairs(redacted_url: str) -> tuple[tuple[str, str], ...]:
    """The redacted URL's query parameters (decoded, as ``parse_qsl``) whose
    value may hold a ``***``: only those are decoded, the contract's fields
    (most of a GET's query) are not."""
    query = urlsplit(redacted_url).query
    if "*" not in query and "%2" not in query.upper():
        return ()
    pairs = [pair for pair in query.split("&") if "*" in pair or "%2A" in pair.upper()]
    return tuple(parse_qsl("&".join(pairs), keep_blank_values=True))


def auth_headers(auth) -> dict[str, str]:
    """The headers an auth object adds, for a request that never got as far
    as being prepared (a deadline): their values are secret anyway."""
    if auth is None:
        return {}
    header = getattr(auth, "header", "Authorization")
    scheme = type(auth).__name__.removeprefix("HTTP").removesuffix("Auth")
    return {header: f"{scheme} {MASK}" if scheme in _SCHEMES else MASK}


@lru_cache(maxsize=1024)  # a customer's secrets are the same request after request
def secret_forms(secrets: frozenset[str]) -> tuple[str, ...]:
    """Each secret as it may appear (also URL-encoded), longest first; those
    shorter than ``MIN_REDACTED`` are masked by name only (as ``redact`` does)."""
    forms = {f for s in secrets if len(s) >= MIN_REDACTED for f in (s, quote_plus(s), quote(s, safe=""))}
    return tuple(sorted(forms, key=len, reverse=True))


def masked(text: str, forms: tuple[str, ...]) -> str:
    for form in forms:
        if form in text:
            text = text.replace(form, MASK)
    return text


def header_value(name: str, value: str, forms: tuple[str, ...]) -> str:
    if SECRET_HEADER.search(name):
        scheme = value.split(" ", 1)[0]
        return f"{scheme} {MASK}" if scheme in _SCHEMES and " " in value else MASK
    return masked(value, forms)


def body_text(body: bytes | None, forms: tuple[str, ...], names: set[str]) -> tuple[str | None, bool]:
    """(the body as text, capped and scrubbed, or None; whether it was cut)."""
    if body is None:
        return None, False
    text = body[:BODY_CAP].decode("utf-8", "replace")
    for name in names:  # JSON: "secret":"...", and a form's secret=...
        if name in text:
            text = _json_field(name).sub(rf'\1"{MASK}"', text)
            text = redact(text, [], (name,))
    return masked(text, forms), len(body) > BODY_CAP


@lru_cache(maxsize=256)
def _json_field(name: str) -> re.Pattern:
    """``"name": "<value>"`` in a JSON body."""
    return re.compile(rf'("{re.escape(name)}"\s*:\s*)"(?:[^"\\]|\\.)*"')


def as_sent(request: WebhookRequest, sent_headers: Mapping[str, str] | None,
            secrets: list[str]) -> dict:
    """``sent_headers``: the prepared request's headers when ``requests`` got
    that far (None: the request's own plus what its auth adds)."""
    headers = dict(sent_headers) if sent_headers is not None else {
        **request.headers, **auth_headers(request.auth)}
    forms = secret_forms(frozenset((*secrets, *request.secrets)))
    body, truncated = body_text(request.body, forms, masked_names(request))
    return {"method": request.method, "url": request.redacted_url,
            "headers": {name: header_value(name, str(value), forms) for name, value in headers.items()},
            "body": body, "body_bytes": len(request.body) if request.body is not None else 0,
            "truncated": truncated}
