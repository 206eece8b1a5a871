"""``POST /api/v1/cdr``: mod_json_cdr's HTTP POSTs (docs/cdr.md).

Authenticated with HTTP Basic (json_cdr.conf.xml: ``cred`` = ``user:password``,
``auth-scheme`` = ``basic``) against ``cdr.username``/``cdr.password``,
compared in constant time. Bodies: whatever mod_json_cdr's ``encode`` makes
(``esl_connector.cdrs.decode``). Answers:

* 200 ``{"status": "ok", "result": "accepted" | "duplicate" | "expired"}``: stored (or
  stored before, or too old to matter: ``cdr.retention``): FreeSWITCH must not retry;
* 400 ``invalid_cdr`` (the reason, never the body), 401 ``unauthorized``
  (with ``WWW-Authenticate: Basic``), 403 ``cdr_http_disabled``, 413
  ``request_too_large``, 415 ``unsupported_media_type``: nothing stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging

from ..calls.cdr import CdrError
from ..cdrs.decode import decode_body, query_uuid
from ..settings.cdr_config import CDR_MAX_BODY_LIMIT, CdrSettings
from .context import CDR_SERVICE_KEY
from .server import ApiError, Route

log = logging.getLogger(__name__)

SERVICE_KEY = CDR_SERVICE_KEY
CHALLENGE = {"WWW-Authenticate": 'Basic realm="esl-connector cdr", charset="UTF-8"'}


def _settings(ctx) -> CdrSettings:
    return getattr(ctx.settings, "cdr", None) or CdrSettings()


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


def authorize(request, settings: CdrSettings) -> None:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    try:
        given = base64.b64decode(encoded.strip(), validate=True) if scheme.lower() == "basic" else b""
    except (binascii.Error, ValueError):
        given = b""
    expected = f"{settings.username}:{settings.password}".encode()
    if not given or not hmac.compare_digest(_digest(given), _digest(expected)):
        raise ApiError(401, "unauthorized", "HTTP Basic credentials matching cdr.username and "
                       "cdr.password are required (json_cdr.conf.xml: cred, auth-scheme basic)", CHALLENGE)


def _body(request, limit: int) -> bytes:
    if (request.content_length or 0) > limit:
        raise ApiError(413, "request_too_large", f"CDRs are limited to {limit} bytes (cdr.max_body)")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise ApiError(413, "request_too_large", f"CDRs are limited to {limit} bytes (cdr.max_body)")
    return body


def receive_cdr(request, ctx):
    settings = _settings(ctx)
    service = ctx.extras.get(SERVICE_KEY)
    if not settings.http or service is None:
        raise ApiError(403, "cdr_http_disabled", "this connector does not accept CDRs over HTTP "
                       "(set cdr.http = true and cdr.password)")
    authorize(request, settings)
    body = _body(request, settings.max_body)
    try:
        doc = decode_body(body, request.headers.get("Content-Type", ""))
        result = service.accept(doc, "http", query_uuid(request.query_string))
    except CdrError as exc:
        code, status = ("unsupported_media_type", 415) if "Content-Type" in str(exc) else ("invalid_cdr", 400)
        log.warning("CDR from %s refused: %s", request.remote_addr, exc)
        raise ApiError(status, code, str(exc)) from None
    return {"status": "ok", "result": result}


def routes() -> list[Route]:
    return [Route("/api/v1/cdr", receive_cdr, ("POST",), max_body=CDR_MAX_BODY_LIMIT)]
