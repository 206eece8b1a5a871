"""Click to call (guide 2.1): the CRM asks the PBX to ring an agent, then dial
a customer and bridge the two.

    GET  /wsapi/{customer}/click2call.php?secret=&extension=&phone=&userfield=[&any=...]
    POST the same path (also without ``.php``), parameters as a form or a JSON object

``200 {"status":"success","callid":...}`` as soon as FreeSWITCH has accepted
the ``bgapi originate`` (``+OK Job-UUID``): ringing the agent takes seconds
and a CRM must not hold its request that long. The callid is chosen here
(``origination_uuid``) and every later webhook of the call carries it.
Errors use the HTTP layer's JSON shape; the codes, in the order checked,
are in docs/click2call.md. The job's result is awaited by a greenlet the
``Click2CallService`` owns; a failure FreeSWITCH's channel events cannot
tell (no channel was created, or the result was lost with the connection)
is written on the call row (``storage.call_params.mark_originate_failed``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
import uuid

import gevent
import gevent.pool
from werkzeug.wrappers import Request

from storage.call_params import extension_presence, mark_originate_failed, save_call_params
from storage.db import connected

from ..calls.call_log import status_from_cause
from ..esl.client import CommandError, CommandTimeout, NotConnected
from ..records import IN_CALL, OFFLINE, RINGING
from ..settings.config import Click2CallSettings
from .click2call_nodes import Placement, client_of, place
from .click2call_originate import OriginateRequest, originate_command
from .click2call_validation import (
    CONTROL_PARAMS,
    InvalidParameter,
    check_extension,
    check_userfield,
    extra_params,
    normalise_phone,
)
from .server import ApiError, Route

log = logging.getLogger(__name__)

SERVICE_KEY = "click2call"
LOST_CAUSE = "CONNECTOR_LOST_TRACK"    # the job's result went with the connection
NO_RESULT_CAUSE = "NO_JOB_RESULT"      # connected, but no BACKGROUND_JOB in time


class Click2CallService:
    """Per-process state: rate limiters and the greenlets awaiting job results."""

    def __init__(self, db, settings: Click2CallSettings | None = None):
        from .rate_limit import KeyedLimiter
        self.db, self.settings = db, settings or Click2CallSettings()
        s = self.settings
        self.customers = KeyedLimiter(s.customer_rate, s.customer_burst)
        self.extensions = KeyedLimiter(s.extension_rate, s.extension_burst)
        self.failures = KeyedLimiter(s.auth_failure_rate, s.auth_failure_burst)
        self.watchers = gevent.pool.Group()

    def watch(self, job, callid: str, timeout: float) -> gevent.Greenlet:
        greenlet = self.watchers.spawn(self._await_result, job, callid, timeout)
        greenlet.link_exception(lambda g: log.error("click2call %s: job watcher failed: %r", callid, g.exception))
        return greenlet

    def _await_result(self, job, callid: str, timeout: float) -> None:
        try:
            result = job.wait(timeout)
        except NotConnected:
            cause = LOST_CAUSE
        except CommandTimeout:
            cause = NO_RESULT_CAUSE
        else:
            if result.ok:
                log.info("click2call %s: the agent answered", callid)
                return
            cause = (result.text.split() or ["FAILED"])[0]
        self.record_failure(callid, cause)

    def record_failure(self, callid: str, cause: str) -> None:
        marked = mark_originate_failed(self.db, callid, cause, status_from_cause(cause))
        log.info("click2call %s: originate failed (%s)%s", callid, cause,
                 "" if marked else "; the call's own events tell the rest")

    def stop(self, timeout: float = 2.0) -> None:
        self.watchers.kill(timeout=timeout)


def service(ctx) -> Click2CallService:
    svc = ctx.extras.get(SERVICE_KEY)
    if svc is None:
        svc = ctx.extras[SERVICE_KEY] = Click2CallService(ctx.db, Click2CallSettings.from_settings(ctx.settings))
    return svc


def routes() -> list[Route]:
    return [Route("/wsapi/<customer>/click2call.php", click2call, ("GET", "POST")),
            Route("/wsapi/<customer>/click2call", click2call, ("GET", "POST"))]


def _too_many(code: str, message: str, wait: float) -> ApiError:
    return ApiError(429, code, message, {"Retry-After": str(max(1, math.ceil(wait)))})


def secret_matches(given: str, expected: str) -> bool:
    """Constant time, and the length of the secret does not leak either."""
    digest = hmac.compare_digest(hashlib.sha256(given.encode()).digest(),
                                 hashlib.sha256(expected.encode()).digest())
    return digest and bool(expected)


def request_params(request: Request) -> dict[str, str]:
    """Query, plus a form or JSON body for POST; a name given twice is refused."""
    pairs = list(request.args.items(multi=True))
    if request.method == "POST" and request.content_length:
        if request.mimetype == "application/json":
            data = request.get_json(silent=True)
            if not isinstance(data, dict):
                raise ApiError(400, "invalid_json", "the body must be a JSON object")
            for name, value in data.items():
                if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                    raise ApiError(400, "invalid_parameter", f"{name} must be a string or a number")
                pairs.append((name, value if isinstance(value, str) else str(value)))
        elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            pairs += list(request.form.items(multi=True))
        else:
            raise ApiError(415, "unsupported_media_type", "send a form or a JSON object")
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise ApiError(400, "duplicate_parameter", f"{name[:64]} is given more than once")
        params[name] = value
    return params


def _locate(ctx, customer, extension: str) -> Placement:
    """Its domain, stored state and the node to originate on (``click2call_nodes``)."""
    settings = ctx.settings.click2call if ctx.settings is not None else None
    return place(extension_presence(ctx.db, extension), customer, extension, list(ctx.nodes),
                 getattr(settings, "default_node", ""))


def _validated(params: dict[str, str], customer, settings: Click2CallSettings):
    try:
        extension = check_extension(params.get("extension", ""))
        phone = normalise_phone(params.get("phone", ""), customer.click2call.phone)
        userfield = check_userfield(params.get("userfield"), settings.userfield_max_length)
        others = [(k, v) for k, v in params.items() if k not in CONTROL_PARAMS]
        extras = extra_params(others, settings.max_params, settings.max_param_length)
    except InvalidParameter as exc:
        raise ApiError(400, exc.code, exc.message) from None
    return extension, phone, userfield, extras


def _authenticate(request: Request, ctx, svc: Click2CallService, code: str):
    """The customer, once the request's secret is right (throttled per address)."""
    address = request.remote_addr or ""
    wait = svc.failures.available(address)
    if wait:
        raise _too_many("too_many_failures", "too many wrong secrets from this address", wait)
    customer = ctx.directory.get(code)
    if customer is None:
        svc.failures.take(address)
        raise ApiError(404, "unknown_customer", "no such customer")
    params = request_params(request)
    if not secret_matches(params.get("secret", ""), customer.click2call_secret):
        svc.failures.take(address)
        log.warning("click2call %s: wrong or missing secret from %s", customer.code, address)
        raise ApiError(401, "invalid_secret", "the secret is missing or wrong")
    if not customer.click2call.enabled:
        raise ApiError(403, "click2call_disabled", "click-to-call is disabled for this customer")
    return customer, params


def _admit(ctx, svc: Click2CallService, customer, extension: str, state: str, node: str) -> None:
    """Rate limits, the FreeSWITCH link of the extension's node, then the extension's state."""
    waits = [svc.extensions.available((customer.code, extension)), svc.customers.available(customer.code)]
    if any(waits):
        raise _too_many("rate_limited", "too many click-to-call requests; retry later", max(waits))
    svc.extensions.take((customer.code, extension))
    svc.customers.take(customer.code)
    if not client_of(ctx, node).connected:
        raise ApiError(503, "freeswitch_unavailable", f"not connected to FreeSWITCH{' node ' + node if node else ''}; "
                       "retry later")
    c2c = customer.click2call
    if c2c.reject_when_offline and state in ("", OFFLINE):
        raise ApiError(409, "extension_offline", f"extension {extension} is not registered")
    if c2c.reject_when_busy and state in (RINGING, IN_CALL):
        raise ApiError(409, "extension_busy", f"extension {extension} is already {state.replace('_', ' ')}")


def click2call(request: Request, ctx, customer: str):
    svc = service(ctx)
    cust, params = _authenticate(request, ctx, svc, customer)
    extension, phone, userfield, extras = _validated(params, cust, svc.settings)
    c2c, callid, job_uuid = cust.click2call, str(uuid.uuid4()), str(uuid.uuid4())
    with connected(ctx.db):  # one connection for the read and the write (opening one costs ~1 ms)
        placed = _locate(ctx, cust, extension)
        domain = placed.domain
        _admit(ctx, svc, cust, extension, placed.state, placed.node)
        command = originate_command(OriginateRequest(callid, extension, domain, phone, userfield,
                                                     c2c.originate_timeout, c2c.route))
        save_call_params(ctx.db, callid, ({"userfield": userfield} if userfield else {}) | extras,
                         extension, domain, phone, now=time.time(), node=placed.node)
    try:
        job = client_of(ctx, placed.node).bgapi(command, job_uuid=job_uuid)
    except NotConnected:
        svc.record_failure(callid, LOST_CAUSE)
        raise ApiError(503, "freeswitch_unavailable", "not connected to FreeSWITCH; retry later") from None
    except CommandTimeout:
        svc.record_failure(callid, LOST_CAUSE)
        raise ApiError(504, "freeswitch_timeout", "FreeSWITCH did not answer in time") from None
    except CommandError as exc:
        svc.record_failure(callid, str(exc).split(" ")[0] or "FAILED")
        raise ApiError(502, "originate_refused", f"FreeSWITCH refused the originate: {exc}") from None
    svc.watch(job, callid, c2c.originate_timeout + svc.settings.job_wait_margin)
    log.info("click2call %s: ringing %s@%s on node %s for %s, callid %s, job %s", cust.code, extension,
             domain or "-", placed.node or "-", phone, callid, job_uuid)
    return {"status": "success", "callid": callid, "extension": extension, "phone": phone,
            "message": f"ringing extension {extension}"}
